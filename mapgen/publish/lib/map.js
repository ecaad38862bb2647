// mapgen's page script: draws the layers of the page's JSON data block (#mg-data) on the
// folium map, with a search box, school labels, a collapsible legend, the school list and an
// offline base map (the build's streets, parks and water) under the tiles.
// Text from the data goes into the page as text (textContent), never as HTML.
"use strict";
(function () {
  var source = document.getElementById("mg-data");
  if (!source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var map = window[data.map];
  var text = data.text;
  var wide = window.matchMedia("(min-width: 900px)").matches;

  function el(tag, content, className) {
    var node = document.createElement(tag);
    if (content !== undefined && content !== null) { node.textContent = String(content); }
    if (className) { node.className = className; }
    return node;
  }
  function escapeHtml(content) {  // for the few Leaflet APIs that take HTML strings (layer names)
    return el("span", content).innerHTML;
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

  var panes = {};
  function pane(name) {  // schools above the venue clusters (markerPane is 600, tooltips 650)
    if (!panes[name]) {
      map.createPane(name).style.zIndex = 640;
      panes[name] = L.svg({ pane: name });
    }
    return { pane: name, renderer: panes[name] };
  }
  function draw(item, spec) {
    var drawn;
    if (item.geojson) {
      drawn = L.geoJSON(item.geojson, { style: { color: item.color, weight: 2, fillColor: item.color,
                                                 fillOpacity: item.fill_opacity, dashArray: item.dash || null } });
    } else if (item.pin) {
      drawn = L.marker([item.lat, item.lon]);
    } else {
      drawn = L.circleMarker([item.lat, item.lon], L.extend({ radius: item.radius, color: item.color, weight: 2,
        fillColor: item.color, fillOpacity: 0.8 }, spec.pane ? pane(spec.pane) : {}));
    }
    if (item.popup) { drawn.bindPopup(popupNode(item.popup), { maxWidth: 320 }); }
    if (item.label) {
      drawn.bindTooltip(el("span", item.label), { permanent: true, direction: "right", offset: [8, 0],
                                                  className: "mg-label" });
    } else if (item.tooltip) {
      drawn.bindTooltip(el("span", item.tooltip));
    }
    return drawn;
  }

  var basemap = window.mgBasemap;  // lib/mapgen/basemap.js: the build's own streets, parks and water
  if (basemap) {  // drawn under the tiles: they show where tiles fail (offline, blocked tile server)
    map.createPane("mg-base").style.zIndex = 150;
    map.getContainer().style.background = basemap.background;
    var baseRenderer = L.canvas({ pane: "mg-base" });
    basemap.layers.forEach(function (part) {
      L.geoJSON(part.geojson, { pane: "mg-base", renderer: baseRenderer, interactive: false,
        style: { color: part.color, weight: part.weight, stroke: part.weight > 0, fill: part.fill,
                 fillColor: part.color, fillOpacity: 1 } }).addTo(map);
    });
  }

  var overlays = {};
  var found = [];  // [name, other name, layer kind, drawn, group]
  var listed = [];
  data.layers.forEach(function (spec) {
    var group = spec.cluster && L.markerClusterGroup ? L.markerClusterGroup() : L.featureGroup();
    spec.items.forEach(function (item) {
      var drawn = draw(item, spec);
      group.addLayer(drawn);
      if (item.search !== undefined) { found.push({ item: item, drawn: drawn, group: group, kind: spec.name }); }
      if (spec.list) { listed.push({ item: item, drawn: drawn, group: group }); }
    });
    group.addTo(map);
    if (spec.in_control) { overlays[escapeHtml(spec.name)] = group; }
  });
  L.control.layers(null, overlays, { collapsed: true }).addTo(map);

  function show(entry) {  // fly to a school or venue and open its popup (also when it sits in a cluster)
    var target = entry.drawn.getLatLng();
    var zoom = Math.max(map.getZoom(), entry.group.getVisibleParent ? 18 : 16);
    function open() { map.openPopup(entry.drawn.getPopup(), target); }
    if (map.getCenter().distanceTo(target) < 1 && map.getZoom() === zoom) { open(); return; }
    map.once("moveend", open);
    map.flyTo(target, zoom, { duration: 0.6 });
  }

  if (found.length) {
    var search = L.control({ position: "topleft" });
    search.onAdd = function () {
      var box = el("div", null, "mg-search");
      var input = el("input");
      input.type = "search";
      input.id = "mg-search";
      input.placeholder = text.search;
      input.setAttribute("aria-label", text.search);
      input.autocomplete = "off";
      var results = el("ul");
      results.setAttribute("role", "listbox");
      box.appendChild(input);
      box.appendChild(results);
      var hits = [];
      function fold(s) { return String(s || "").toLowerCase().replace(/\s+/g, ""); }
      function pick(hit) {
        results.textContent = "";
        input.value = hit.item.popup.title;
        input.blur();
        show(hit);
      }
      input.addEventListener("input", function () {
        var q = fold(input.value);
        results.textContent = "";
        hits = !q ? [] : found.filter(function (e) {
          return fold(e.item.popup.title).indexOf(q) >= 0 || fold(e.item.search).indexOf(q) >= 0;
        }).slice(0, 8);
        hits.forEach(function (hit, i) {
          var li = el("li", hit.item.popup.title);
          li.setAttribute("role", "option");
          li.appendChild(el("span", hit.kind.replace(/\s*\(\d+\)$/, ""), "mg-kind"));
          if (i === 0) { li.className = "mg-active"; }
          li.addEventListener("click", function () { pick(hit); });
          results.appendChild(li);
        });
        if (q && !hits.length) { results.appendChild(el("li", text.no_match)); }
      });
      input.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && hits.length) { ev.preventDefault(); pick(hits[0]); }
        if (ev.key === "Escape") { results.textContent = ""; }
      });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    search.addTo(map);
  }

  var legend = L.control({ position: "bottomleft" });  // stacked above the scale bar, never over it
  legend.onAdd = function () {
    var box = el("details", null, "mg-legend");
    box.id = "mg-legend";
    box.open = wide;
    box.appendChild(el("summary", text.legend));
    box.appendChild(el("div", data.title, "mg-legend-title"));
    data.links.forEach(function (item) { box.appendChild(el("div")).appendChild(link(item)); });
    data.legend.forEach(function (entry) {
      var row = el("div");
      var swatch = row.appendChild(el("span", null, entry.line ? "mg-line" + (entry.dash ? " mg-dash" : "")
                                                               : "mg-swatch"));
      if (entry.line) { swatch.style.borderTopColor = entry.color; } else { swatch.style.background = entry.color; }
      row.appendChild(document.createTextNode(entry.text));
      box.appendChild(row);
    });
    box.appendChild(el("div", data.attribution));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  };
  legend.addTo(map);

  function labels() { map.getContainer().classList.toggle("mg-far", map.getZoom() < 14); }
  map.on("zoomend", labels);
  labels();

  var side = document.getElementById("mg-side");
  if (side) {
    if (listed.length) {
      side.appendChild(el("h1", data.title));
      side.appendChild(el("h2", data.layers[0].name));
      var list = side.appendChild(el("ul"));
      listed.forEach(function (entry) {
        var li = list.appendChild(el("li"));
        var button = li.appendChild(el("button", entry.item.popup.title));
        button.type = "button";
        button.addEventListener("click", function () { show(entry); });
        if (entry.item.note) { li.appendChild(el("div", entry.item.note, "mg-note")); }
      });
      document.body.classList.add("mg-list-wide");
    }
    document.body.classList.add("mg-with-side");
    map.invalidateSize();
  }
})();
