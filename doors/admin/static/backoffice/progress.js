/* Live progress for the admin: every element with data-sync-progress="<id>" is updated from
   /admin/syncs/sync/progress/?ids=... every second while one of them is pending or active. A sync page
   reloads itself once its sync has ended, to show the final logs and rejects. No dependencies. */
(function () {
  "use strict";
  var RUNNING = { pending: true, active: true };
  function fmtDuration(s) {
    if (s === null || s === undefined) return "-";
    s = Math.round(s);
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60); s = s % 60;
    if (m < 60) return m + " min " + s + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function fmtRate(r) { return r === null || r === undefined ? "-" : Math.round(r).toLocaleString("en-US") + " rows/s"; }
  function base() {
    var link = document.querySelector('a[href$="/admin/"]');
    var m = window.location.pathname.match(/^(.*\/admin\/)/);
    return m ? m[1] : "/admin/";
  }
  function bars() { return Array.prototype.slice.call(document.querySelectorAll("[data-sync-progress]")); }
  function update(p) {
    bars().forEach(function (el) {
      if (el.getAttribute("data-sync-progress") !== String(p.id)) return;
      el.setAttribute("data-status", p.status);
      el.title = p.processed + " of " + p.total + " rows";
      var bar = el.querySelector(".bo-bar"), label = el.querySelector(".bo-label");
      if (bar) bar.style.width = p.percent + "%";
      if (label) label.textContent = p.percent + "%";
      var scope = el.closest("[data-sync-row], [data-sync-page]");
      if (!scope) return;
      var set = function (name, text) { var f = scope.querySelector('[data-field="' + name + '"]'); if (f) f.textContent = text; };
      var badge = scope.querySelector('[data-field="status"]');
      if (badge) { badge.textContent = p.status; badge.className = "bo-badge bo-" + p.status; }
      set("counts", p.processed + " / " + p.total + " rows");
      set("rate", fmtRate(p.rate));
      set("eta", p.running ? fmtDuration(p.eta) : fmtDuration(p.elapsed));
      set("created", p.created); set("updated", p.updated); set("rejected", p.rejected);
      set("stored", p.created + p.updated);
    });
  }
  function poll() {
    var els = bars().filter(function (el) { return RUNNING[el.getAttribute("data-status")]; });
    if (!els.length) return;
    var ids = els.map(function (el) { return el.getAttribute("data-sync-progress"); });
    var page = document.querySelector("[data-sync-page]");
    fetch(base() + "syncs/sync/progress/?ids=" + ids.join(","), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { syncs: [] }; })
      .then(function (data) {
        var ended = false;
        data.syncs.forEach(function (p) {
          update(p);
          if (page && String(p.id) === page.getAttribute("data-sync-page") && !p.running) ended = true;
        });
        if (ended) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, 1000); });
})();
