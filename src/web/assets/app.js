// Live list (server-sent events) and keyboard shortcuts. No framework, no build step.
(function () {
  "use strict";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-href]")); }
  var sel = -1;
  function select(i) {
    var r = rows();
    if (!r.length) return;
    sel = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (x) { x.classList.remove("sel"); });
    r[sel].classList.add("sel");
    r[sel].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("click", function (e) {
    var tr = e.target.closest && e.target.closest("tr[data-href]");
    if (tr && !e.target.closest("a,button,input,select,textarea,form")) location.href = tr.dataset.href;
  });

  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (pendingG) {
      pendingG = false;
      if (e.key === "l") { location.href = "/console"; e.preventDefault(); }
      return;
    }
    switch (e.key) {
      case "j": select(sel + 1); e.preventDefault(); break;
      case "k": select(sel - 1); e.preventDefault(); break;
      case "Enter": { var r = rows(); if (sel >= 0 && r[sel]) location.href = r[sel].dataset.href; break; }
      case "/": { var f = document.getElementById("f-state"); if (f) { f.focus(); e.preventDefault(); } break; }
      case "n": if (document.querySelector('a[href="/tickets/new"]')) { location.href = "/tickets/new"; e.preventDefault(); } break;
      case "g": pendingG = true; break;
      case "a": {
        var first = document.querySelector("aside.actions select, aside.actions input:not([type=hidden]), aside.actions textarea, aside.actions button");
        if (first) { first.focus(); e.preventDefault(); }
        break;
      }
    }
  });

  // Live updates: when any visible ticket changes, fetch the rows again with the same filters.
  var table = document.getElementById("tickets");
  if (table && table.dataset.live && window.EventSource) {
    var live = document.getElementById("live");
    var timer = null;
    var refresh = function () {
      timer = null;
      var url = "/console/rows" + location.search;
      fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      }).then(function (html) {
        var body = document.getElementById("rows");
        var before = {};
        rows().forEach(function (r) { before[r.dataset.href] = r.textContent; });
        body.innerHTML = html;
        rows().forEach(function (r) { if (before[r.dataset.href] !== r.textContent) r.classList.add("fresh"); });
        var meta = body.querySelector("tr[data-total]");
        var total = document.getElementById("total");
        if (meta && total) total.textContent = meta.dataset.total;
        sel = -1;
      }).catch(function () {});
    };
    var es = new EventSource(table.dataset.live);
    es.addEventListener("ticket", function () { if (!timer) timer = setTimeout(refresh, 300); });
    es.onopen = function () { if (live) { live.textContent = "实时更新"; live.classList.remove("off"); } };
    es.onerror = function () { if (live) { live.textContent = "实时更新已断开，正在重连…"; live.classList.add("off"); } };
  }

  // Desk and wallboard buttons: post the form in the background and say how it went.
  var msg = function (text, bad) {
    var m = document.getElementById("desk-msg");
    if (m) { m.textContent = text; m.className = bad ? "error" : "ok"; }
  };
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (!f.hasAttribute || !f.hasAttribute("data-async")) return;
    e.preventDefault();
    // getAttribute: a field named "action" (the call buttons') shadows the form's action.
    fetch(f.getAttribute("action"), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(f)).toString()
    }).then(function (r) {
      if (r.ok) { msg(f.dataset.ok || "已提交。", false); if (board) setTimeout(refreshBoard, 200); return; }
      return r.text().then(function (html) {
        var d = document.createElement("div"); d.innerHTML = html;
        var p = d.querySelector(".error");
        msg(p ? p.textContent : "操作失败（" + r.status + "）", true);
      });
    }).catch(function () { msg("网络错误，请重试。", true); });
  });

  // Agent desk: my state and the screen pop arrive as server-sent events.
  var desk = document.getElementById("desk");
  if (desk && desk.dataset.live && window.EventSource) {
    var dlive = document.getElementById("live");
    var des = new EventSource(desk.dataset.live);
    des.addEventListener("agent", function (ev) {
      var a = JSON.parse(ev.data);
      var st = document.getElementById("my-state");
      if (st) { st.textContent = a.state; st.dataset.state = a.state_code; }
      var rs = document.getElementById("my-reason");
      if (rs) rs.textContent = a.reason;
    });
    des.addEventListener("pop", function (ev) {
      var pop = document.getElementById("pop");
      if (pop) { pop.innerHTML = ev.data; pop.classList.add("fresh"); }
    });
    des.onopen = function () { if (dlive) { dlive.textContent = "实时更新"; dlive.classList.remove("off"); } };
    des.onerror = function () { if (dlive) { dlive.textContent = "实时更新已断开，正在重连…"; dlive.classList.add("off"); } };
  }

  // A ticket's transcript: clicking a segment plays the recording from the segment's start.
  document.addEventListener("click", function (e) {
    var seg = e.target.closest && e.target.closest("[data-seek]");
    if (!seg) return;
    var audio = document.getElementById(seg.dataset.audio || "recording");
    if (!audio) return;
    e.preventDefault();
    var at = parseFloat(seg.dataset.seek) || 0;
    var go = function () {
      audio.currentTime = at;
      var p = audio.play();
      if (p && p.catch) p.catch(function () {});
    };
    // Seeking needs the length of the file: wait for it when not known yet.
    if (audio.readyState >= 1) go();
    else { audio.addEventListener("loadedmetadata", go, { once: true }); audio.load(); }
    Array.prototype.forEach.call(document.querySelectorAll("[data-seek].playing"), function (x) { x.classList.remove("playing"); });
    seg.classList.add("playing");
  });

  // Wallboard: the figures again every 2 s.
  var board = document.getElementById("wallboard");
  var refreshBoard = function () {
    fetch(board.dataset.live, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (html) { board.innerHTML = html; }).catch(function () {});
  };
  if (board && board.dataset.live) setInterval(refreshBoard, 2000);
})();
