// A tag's trail (positions with their accuracy circles, alerts) and heatmap (H3 cells,
// shaded by time spent) on a Leaflet map: the centre's tile server if one is set, else a
// blank grid, so the page works offline.
"use strict";
(function () {
  const el = document.getElementById("map");
  const device = el.dataset.device;
  const tiles = el.dataset.tiles;
  const info = document.getElementById("trail-info");
  const map = L.map(el, {preferCanvas: true}).setView([51.5, -0.1], 13);
  if (tiles) {
    L.tileLayer(tiles, {maxZoom: 19, attribution: "basemap: " + new URL(tiles.replace(/[{}]/g, "")).host}).addTo(map);
  } else {
    el.classList.add("blank-map");
  }
  const trail = L.layerGroup().addTo(map), heat = L.layerGroup().addTo(map);
  function q() {
    const f = encodeURIComponent(document.getElementById("from").value);
    const t = encodeURIComponent(document.getElementById("to").value);
    return "?from=" + f + "&to=" + t;
  }
  function get(url) {
    return fetch(url, {credentials: "same-origin"}).then(r => r.json().then(j => {
      if (!r.ok) throw new Error(j.error || r.statusText);
      return j;
    }));
  }
  function load() {
    trail.clearLayers(); heat.clearLayers();
    info.textContent = "loading...";
    get("/api/tags/" + device + "/trail" + q()).then(d => {
      const pts = d.fixes.map(f => [f[1], f[2]]);
      d.fixes.forEach(f => L.circle([f[1], f[2]], {radius: f[3], weight: 0, fillOpacity: 0.08, color: "#1c7ed6"}).addTo(trail));
      if (pts.length) {
        L.polyline(pts, {color: "#1c7ed6", weight: 2}).addTo(trail);
        map.fitBounds(L.latLngBounds(pts).pad(0.2), {maxZoom: 17});
      }
      d.alerts.filter(a => a.lat !== null).forEach(a =>
        L.circleMarker([a.lat, a.lon], {radius: 7, color: "#c92a2a", fillOpacity: 0.9})
          .bindTooltip(a.alert + (a.zone ? " " + a.zone : "") + " " + new Date(a.t * 1000).toISOString())
          .addTo(trail));
      info.textContent = d.count + " positions" + (d.thinned_every > 1 ? " (every " + d.thinned_every + "th shown)" : "") +
        ", " + d.alerts.length + " alerts";
      info.dataset.count = d.count;
    }).catch(e => { info.textContent = "trail: " + e.message; info.classList.add("error"); });
    if (document.getElementById("show-heat").checked) {
      get("/api/tags/" + device + "/heatmap" + q()).then(d => {
        const top = d.cells.length ? d.cells[0].seconds : 1;
        d.cells.forEach(c => L.polygon(c.boundary, {weight: 1, color: "#e8590c", fillOpacity: 0.15 + 0.6 * c.seconds / top})
          .bindTooltip(Math.round(c.seconds / 60) + " min").addTo(heat));
        el.dataset.cells = d.cells.length;
      }).catch(e => { info.textContent += " heatmap: " + e.message; });
    }
  }
  document.getElementById("window").addEventListener("submit", ev => {
    ev.preventDefault();
    history.replaceState(null, "", location.pathname + q());
    load();
  });
  load();
})();
