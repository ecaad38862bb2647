// mapgen's page script: draws the layers of the page's JSON data block (#mg-data) on the
// folium map. Text from the data goes into the page as text (textContent), never as HTML.
"use strict";
(function () {
  var source = document.getElementById("mg-data");
  if (!source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var map = window[data.map];

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }
  function escapeHtml(text) {  // for the few Leaflet APIs that take HTML strings (layer names)
    return el("span", text).innerHTML;
  }
  function link(item) {
    var a = el("a", item.text);
    a.setAttribute("href", item.href);
    return a;
  }
  function popupNode(p) {
    var box = el("div", null, "mg-popup");
    box.appendChild(el("b", p.title));
    p.lines.forEach(function (line) { box.appendChild(el("div", line)); });
    p.links.forEach(function (item) { box.appendChild(el("div")).appendChild(link(item)); });
    return box;
  }
  function draw(item) {
    var drawn;
    if (item.geojson) {
      drawn = L.geoJSON(item.geojson, { style: { color: item.color, weight: 1.5, fillColor: item.color,
                                                 fillOpacity: item.fill_opacity } });
    } else if (item.pin) {
      drawn = L.marker([item.lat, item.lon]);
    } else {
      drawn = L.circleMarker([item.lat, item.lon], { radius: item.radius, color: item.color, weight: 2,
                                                     fillColor: item.color, fillOpacity: 0.8 });
    }
    if (item.popup) { drawn.bindPopup(popupNode(item.popup), { maxWidth: 320 }); }
    if (item.tooltip) { drawn.bindTooltip(el("span", item.tooltip)); }
    return drawn;
  }

  var overlays = {};
  data.layers.forEach(function (spec) {
    var group = spec.cluster && L.markerClusterGroup ? L.markerClusterGroup() : L.featureGroup();
    spec.items.forEach(function (item) { group.addLayer(draw(item)); });
    group.addTo(map);
    if (spec.in_control) { overlays[escapeHtml(spec.name)] = group; }
  });
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);

  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var box = el("div", null, "mg-legend");
    box.id = "mg-legend";
    box.appendChild(el("b", data.title));
    data.links.forEach(function (item) { box.appendChild(el("div")).appendChild(link(item)); });
    data.legend.forEach(function (entry) {
      var row = el("div");
      var swatch = row.appendChild(el("span", null, "mg-swatch"));
      swatch.style.background = entry.color;
      row.appendChild(document.createTextNode(entry.text));
      box.appendChild(row);
    });
    box.appendChild(el("div", data.attribution));
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  legend.addTo(map);
})();
