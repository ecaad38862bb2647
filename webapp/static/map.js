// School, venue and results maps: Leaflet (served by the site), data from the page's JSON block
// and, with a school, its isochrones from the API. Colours, labels and whole minutes come from
// the server (the taxonomy and mapgen.look). Text from the data goes in as text (textContent),
// never as HTML.
"use strict";
(function () {
  var holder = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!holder || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);

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
  function numberIcon(number, colour) {
    var el = document.createElement("span");
    el.className = "mg-number";
    el.textContent = String(number);
    el.style.background = colour;  // a DOM property, not an inline style attribute in the page
    return L.divIcon({ html: el, className: "mg-number-icon", iconSize: [24, 24], iconAnchor: [12, 12] });
  }

  function draw(isochrones) {
    var map = L.map(holder, { scrollWheelZoom: false });
    map.attributionControl.setPrefix(false);
    var base = window.mgBasemap;  // the build's streets, parks and water (lib/mapgen/basemap.js), under the tiles
    if (base) {
      map.createPane("mg-base").style.zIndex = 150;
      map.getContainer().style.background = base.background;
      var renderer = L.canvas({ pane: "mg-base" });
      base.layers.forEach(function (part) {
        L.geoJSON(part.geojson, { pane: "mg-base", renderer: renderer, interactive: false,
          style: { color: part.color, weight: part.weight, stroke: part.weight > 0, fill: part.fill,
                   fillColor: part.color, fillOpacity: 1 } }).addTo(map);
      });
    }
    L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution, maxZoom: 19 }).addTo(map);
    // the tiles' credit as text (an inert document: nothing in it loads or runs), to credit OSM once, not twice
    var credited = new DOMParser().parseFromString(data.tiles.attribution, "text/html").body.textContent;
    if (credited.indexOf(data.attribution) < 0) {
      map.attributionControl.addAttribution(escapeHtml(data.attribution));
    }
    var overlays = {};
    var shown = [];
    var bounds = L.latLngBounds([]);
    ["bike", "walk"].forEach(function (mode) {  // bike first: the smaller walk circle stays on top
      if (!isochrones[mode] || (data.only_mode && data.only_mode !== mode)) { return; }
      var layer = L.geoJSON(isochrones[mode], {
        style: { color: data.mode_colors[mode], weight: 2, fillOpacity: 0.12, dashArray: data.mode_dash[mode] || null,
                 className: "mg-iso mg-iso-" + mode }
      });
      shown.push(layer);
      overlays[escapeHtml((data.layers && data.layers[mode]) || data.mode_labels[mode])] = layer;
      if (!data.numbered) { bounds.extend(layer.getBounds()); }
    });
    var groups = {};
    data.venues.forEach(function (v) {
      if (!groups[v.category]) { groups[v.category] = L.featureGroup(); }
      var times = ["walk", "bike"].filter(function (m) { return v[m] !== null && v[m] !== undefined; })
        .map(function (m) { return data.mode_labels[m] + " " + v[m] + " " + data.minutes_label; })
        .join(" · ");
      var marker;
      if (data.numbered) {
        marker = L.marker([v.lat, v.lon], { icon: numberIcon(v.number, v.color), title: v.name,
                                            keyboard: true, alt: v.name });
      } else {
        marker = L.circleMarker([v.lat, v.lon], {
          radius: 7, weight: 2, color: v.color, fillColor: v.color, fillOpacity: 0.85,
          className: "mg-venue mg-venue-" + v.category
        });
      }
      marker.bindPopup(textLines([v.name, v.category_label, times, v.hours], v.url));
      marker.addTo(groups[v.category]);
      bounds.extend(marker.getLatLng());
    });
    Object.keys(groups).forEach(function (key) {
      shown.push(groups[key]);
      if (data.layers && data.layers[key]) { overlays[escapeHtml(data.layers[key])] = groups[key]; }
    });
    if (data.school) {
      var school = L.circleMarker([data.school.lat, data.school.lon], {
        radius: 9, weight: 3, color: data.school_color, fillColor: "#ffffff", fillOpacity: 1, className: "mg-school"
      }).bindPopup(textLines([data.school.name]));
      shown.push(school);
      bounds.extend(school.getLatLng());
    }
    // the view must exist before vector layers are added
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 }); } else { map.setView([0, 0], 2); }
    shown.forEach(function (layer) { layer.addTo(map); });
    if (Object.keys(overlays).length > 1) {
      L.control.layers(null, overlays, { collapsed: window.innerWidth < 700 }).addTo(map);
    }
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
