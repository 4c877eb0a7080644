// The agent desk's browser phone: while this page is open the tab is the agent's phone.
// Signalling over the desk's WebSocket (the console session; no SIP account in the
// browser), media over WebRTC to hotline (G.711). A call rings with a sound; answer and hang
// up with the buttons or Alt+A / Alt+H; Alt+M mutes the microphone; Alt+P / Alt+U hold and
// take back, Alt+T opens the transfer list; meters show both
// directions' levels. While talking, the keypad (or the keys 0-9 * # outside text fields)
// sends DTMF to the caller: RFC 4733 events on the WebRTC leg, which hotline passes on.
(function () {
  "use strict";
  var box = document.getElementById("softphone");
  if (!box || !window.RTCPeerConnection || !window.WebSocket) return;
  var stateEl = document.getElementById("sp-state");
  var callerEl = document.getElementById("sp-caller");
  var bAnswer = document.getElementById("sp-answer");
  var bHangup = document.getElementById("sp-hangup");
  var bMute = document.getElementById("sp-mute");
  var audio = document.getElementById("sp-audio");
  var keypad = document.getElementById("sp-keypad");
  var keysEl = document.getElementById("sp-keys");
  var ws = null, pc = null, mic = null, ringer = null, closing = null;

  var LABELS = { off: "未连接", idle: "在线", ringing: "振铃", connecting: "接通中", talking: "通话中" };
  function show(code) {
    stateEl.dataset.state = code;
    stateEl.textContent = LABELS[code];
    bAnswer.disabled = code !== "ringing";
    bHangup.disabled = !(code === "ringing" || code === "connecting" || code === "talking");
    bMute.disabled = code !== "talking";
    if (keypad) keypad.hidden = code !== "talking";
  }

  // The ring: 440+480 Hz, 1 s on, 2 s off, made by the page (no sound file to fetch).
  function startRing() {
    stopRing();
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    var ctx = new Ctx(), gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    [440, 480].forEach(function (f) {
      var o = ctx.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
    });
    var on = true;
    var beat = function () { gain.gain.value = on ? 0.1 : 0; on = !on; };
    beat();
    var timer = setInterval(beat, 1000);
    ringer = { stop: function () { clearInterval(timer); ctx.close(); } };
  }
  function stopRing() {
    if (ringer) { ringer.stop(); ringer = null; }
  }

  // Level meters for both directions, so the agent sees their microphone works and the
  // caller is heard (RMS of the last 2048 samples, ten times a second).
  var meters = null;
  function startMeters() {
    stopMeters();
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx || !mic || !audio.srcObject) return;
    var ctx = new Ctx();
    var pairs = [[mic, "sp-level-out"], [audio.srcObject, "sp-level-in"]].map(function (p) {
      var an = ctx.createAnalyser();
      an.fftSize = 2048;
      ctx.createMediaStreamSource(p[0]).connect(an);
      return [an, document.getElementById(p[1])];
    });
    var buf = new Float32Array(2048);
    var timer = setInterval(function () {
      pairs.forEach(function (p) {
        p[0].getFloatTimeDomainData(buf);
        var sum = 0;
        for (var i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
        // -60..0 dBFS shown as 0..1.
        var db = 10 * Math.log10(sum / buf.length + 1e-12);
        p[1].value = Math.max(0, Math.min(1, (db + 60) / 60));
      });
    }, 100);
    meters = { stop: function () { clearInterval(timer); ctx.close(); pairs.forEach(function (p) { p[1].value = 0; }); } };
  }
  function stopMeters() {
    if (meters) { meters.stop(); meters = null; }
  }

  function endCall() {
    stopMeters();
    stopRing();
    if (pc) { pc.close(); pc = null; }
    if (mic) { mic.getTracks().forEach(function (t) { t.stop(); }); mic = null; }
    audio.srcObject = null;
    callerEl.textContent = "";
    bMute.setAttribute("aria-pressed", "false");
    if (keysEl) keysEl.textContent = "";
  }

  function send(m) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
  }

  // hotline is ICE-lite and takes no trickled candidates: the offer goes once complete.
  function gathered(p) {
    if (p.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (ok) {
      var done = function () { if (p.iceGatheringState === "complete") ok(); };
      p.addEventListener("icegatheringstatechange", done);
      setTimeout(ok, 2000);
    });
  }

  function answer() {
    if (stateEl.dataset.state !== "ringing") return;
    stopRing();
    show("connecting");
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      mic = stream;
      pc = new RTCPeerConnection({ iceServers: [] });
      stream.getAudioTracks().forEach(function (t) { pc.addTrack(t, stream); });
      pc.ontrack = function (ev) {
        audio.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      };
      pc.onconnectionstatechange = function () {
        if (pc && pc.connectionState === "connected") { show("talking"); startMeters(); }
      };
      return pc.createOffer()
        .then(function (o) { return pc.setLocalDescription(o); })
        .then(function () { return gathered(pc); })
        .then(function () { send({ type: "offer", sdp: pc.localDescription.sdp }); });
    }).catch(function (e) {
      // No microphone (or refused): the call is not taken, the queue rings someone else.
      send({ type: "decline" });
      endCall();
      show("idle");
      callerEl.textContent = "无法使用麦克风：" + e.message;
    });
  }

  function hangup() {
    var s = stateEl.dataset.state;
    if (s === "ringing") send({ type: "decline" });
    else if (s === "connecting" || s === "talking") {
      send({ type: "hangup" });
      // The connection is closed once hotline has taken the hang-up ("ended"): closed
      // first, it could reach hotline before the message and read as a lost browser.
      var old = pc;
      pc = null;
      if (old) {
        closing = old;
        setTimeout(closeClosing, 2000);
      }
    } else return;
    endCall();
    show("idle");
  }
  function closeClosing() {
    if (closing) { closing.close(); closing = null; }
  }

  function mute() {
    if (!mic) return;
    var muted = bMute.getAttribute("aria-pressed") !== "true";
    mic.getAudioTracks().forEach(function (t) { t.enabled = !muted; });
    bMute.setAttribute("aria-pressed", muted ? "true" : "false");
  }

  // One key press toward the caller. insertDTMF replaces what is still queued, so the new
  // key goes after the ones not yet played.
  function press(key) {
    if (stateEl.dataset.state !== "talking" || !pc || !keypad) return;
    var sender = pc.getSenders().filter(function (s) { return s.dtmf; })[0];
    if (!sender || !sender.dtmf.canInsertDTMF) return;
    sender.dtmf.insertDTMF(sender.dtmf.toneBuffer + key, 100, 70);
    keysEl.textContent += key;
    var b = keypad.querySelector('button[data-key="' + key + '"]');
    if (b) {
      b.classList.add("pressed");
      setTimeout(function () { b.classList.remove("pressed"); }, 150);
    }
  }

  // Typing goes to the caller only when no text field has the focus (notes, ticket form).
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + box.dataset.phone);
    ws.onopen = function () { show("idle"); };
    ws.onclose = function () {
      closeClosing();
      endCall();
      show("off");
      setTimeout(connect, 2000);
    };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "ring") {
        callerEl.textContent = m.caller;
        show("ringing");
        startRing();
      } else if (m.type === "stop" || m.type === "ended") {
        closeClosing();
        endCall();
        show("idle");
      } else if (m.type === "answer" && pc) {
        pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).catch(function () {
          send({ type: "hangup" });
          endCall();
          show("idle");
        });
      } else if (m.type === "error") {
        endCall();
        show("idle");
        callerEl.textContent = m.message;
      }
    };
  }

  bAnswer.addEventListener("click", answer);
  bHangup.addEventListener("click", hangup);
  bMute.addEventListener("click", mute);
  if (keypad) {
    keypad.addEventListener("click", function (e) {
      var k = e.target.closest("button[data-key]");
      if (k) press(k.dataset.key);
    });
  }
  document.addEventListener("keydown", function (e) {
    if (!e.altKey && !e.ctrlKey && !e.metaKey && !e.repeat && /^[0-9*#]$/.test(e.key)
        && stateEl.dataset.state === "talking" && !typing(document.activeElement)) {
      e.preventDefault();
      press(e.key);
      return;
    }
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    var k = e.key.toLowerCase();
    if (k === "a") { e.preventDefault(); answer(); }
    else if (k === "h") { e.preventDefault(); hangup(); }
    else if (k === "m") { e.preventDefault(); mute(); }
    else if (k === "p" || k === "u" || k === "t") {
      // The screen pop's call buttons: hold, take back, and the transfer list (choose, Enter).
      var field = document.querySelector('#pop form input[name="action"][value="' +
        { p: "hold", u: "unhold", t: "transfer" }[k] + '"]');
      if (!field) return;
      e.preventDefault();
      if (k === "t") field.form.querySelector("select").focus();
      else field.form.requestSubmit();
    }
  });
  show("off");
  connect();
})();
