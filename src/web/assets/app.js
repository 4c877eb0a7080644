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
})();
