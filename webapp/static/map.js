// School and venue maps: Leaflet (served by the site), data from the page's JSON block
// and, on school pages, the isochrones from the API. Text from the data goes in as text
// (textContent), never as HTML.
"use strict";
(function () {
  var holder = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!holder || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = { "cat-0": "#e6550d", "cat-1": "#31a354", "cat-2": "#3182bd", "cat-3": "#756bb1",
                  "cat-4": "#d6616b", "cat-5": "#8c6d31", "cat-6": "#636363", "cat-7": "#17becf" };
  var modeColours = { walk: "#2171b5", bike: "#cb181d" };

  function escapeHtml(text) {
    var span = document.createElement("span");
    span.textContent = String(text);
    return span.innerHTML;
  }
  function textLines(lines, link) {
    var box = document.createElement("div");
    lines.forEach(function (line, i) {
      if (!line) { return; }
      var el = document.createElement(i === 0 && link ? "a" : "div");
      if (i === 0 && link) { el.href = link; el.className = "popup-title"; }
      el.textContent = line;
      box.appendChild(el);
    });
    return box;
  }

  function draw(isochrones) {
    var map = L.map(holder, { scrollWheelZoom: false });
    map.attributionControl.setPrefix(false);
    L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution, maxZoom: 19 }).addTo(map);
    map.attributionControl.addAttribution(escapeHtml(data.attribution));
    var overlays = {};
    var shown = [];
    var bounds = L.latLngBounds([]);
    ["bike", "walk"].forEach(function (mode) {  // bike first: the smaller walk circle stays on top
      if (!isochrones[mode]) { return; }
      var layer = L.geoJSON(isochrones[mode], {
        style: { color: modeColours[mode], weight: 2, fillOpacity: 0.12, className: "mg-iso mg-iso-" + mode }
      });
      shown.push(layer);
      overlays[escapeHtml(data.layers[mode] || mode)] = layer;
      bounds.extend(layer.getBounds());
    });
    var groups = {};
    data.venues.forEach(function (v) {
      if (!groups[v.category]) { groups[v.category] = L.featureGroup(); }
      var times = ["walk", "bike"].filter(function (m) { return v[m] !== null && v[m] !== undefined; })
        .map(function (m) { return data.mode_labels[m] + " " + Math.round(v[m]) + " " + data.minutes_label; })
        .join(" · ");
      var marker = L.circleMarker([v.lat, v.lon], {
        radius: 7, weight: 2, color: colours[v.cls], fillColor: colours[v.cls], fillOpacity: 0.85,
        className: "mg-venue mg-venue-" + v.category
      });
      marker.bindPopup(textLines([v.name, v.category_label, times, v.hours], v.url));
      marker.bindTooltip(textLines([v.name]));
      marker.addTo(groups[v.category]);
      bounds.extend(marker.getLatLng());
    });
    Object.keys(groups).forEach(function (key) {
      shown.push(groups[key]);
      overlays[escapeHtml((data.layers && data.layers[key]) || key)] = groups[key];
    });
    if (data.school) {
      var school = L.circleMarker([data.school.lat, data.school.lon], {
        radius: 9, weight: 3, color: "#08519c", fillColor: "#ffffff", fillOpacity: 1, className: "mg-school"
      }).bindTooltip(textLines([data.school.name]));
      shown.push(school);
      bounds.extend(school.getLatLng());
    }
    // the view must exist before vector layers are added
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [16, 16], maxZoom: 17 }); } else { map.setView([0, 0], 2); }
    shown.forEach(function (layer) { layer.addTo(map); });
    if (Object.keys(overlays).length > 1) { L.control.layers(null, overlays, { collapsed: false }).addTo(map); }
    L.control.scale().addTo(map);
    window.mapgenMap = { map: map, overlays: overlays };
  }

  if (data.isochrones_url) {
    fetch(data.isochrones_url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { features: [] }; })
      .then(function (collection) {
        var byMode = {};
        collection.features.forEach(function (f) { byMode[f.properties.mode] = f; });
        draw(byMode);
      })
      .catch(function () { draw({}); });
  } else {
    draw({});
  }
})();
