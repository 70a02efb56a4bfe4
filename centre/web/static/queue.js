// The alert queue, live: Server-Sent Events (/events) say something changed, and the page
// fetches the queue's rows again (server-rendered). Without SSE it polls every 10 s.
"use strict";
(function () {
  const live = document.getElementById("live");
  const box = document.getElementById("queue");
  let busy = false, again = false;
  function refresh(highlight) {
    if (busy) { again = true; return; }
    busy = true;
    const before = new Set([...box.querySelectorAll("tr[data-ref]")].map(r => r.dataset.ref));
    fetch("/queue/rows", {credentials: "same-origin", cache: "no-store"})
      .then(r => { if (r.status === 401) { location.href = "/login?next=/queue"; } return r.text(); })
      .then(html => {
        box.innerHTML = html;
        if (highlight) {
          box.querySelectorAll("tr[data-ref]").forEach(r => {
            if (!before.has(r.dataset.ref)) r.classList.add("fresh");
          });
        }
      })
      .finally(() => { busy = false; if (again) { again = false; refresh(true); } });
  }
  let poll = null;
  function startPolling() { if (!poll) poll = setInterval(() => refresh(true), 10000); }
  if (window.EventSource) {
    const es = new EventSource("/events");
    es.addEventListener("open", () => { live.className = "live on"; });
    es.addEventListener("change", () => refresh(true));
    es.addEventListener("error", () => { live.className = "live off"; startPolling(); });
  } else {
    startPolling();
  }
})();
