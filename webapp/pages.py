"""HTML pages: home, search results with filters, venue and school pages, built static maps and PDFs."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import xstatic.pkg.leaflet as xs_leaflet
from flask import Blueprint, Response, abort, current_app, g, render_template, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue

from mapgen.look import MODE_COLORS, MODE_DASH, NO_CATEGORY_COLOR, SCHOOL_COLOR, hours_words, mode_label, whole_minutes
from mapgen.sitetext import BASEMAP_SCRIPT
from webapp.cache import cacheable
from webapp.db import SiteInfo, db, site
from webapp.i18n import WEEKDAYS, clock, error_key, translate
from webapp.query import VenueQuery
from webapp.records import opening_days, school_detail, school_venues, venue_detail
from webapp.search import search_schools, search_venues

pages = Blueprint("pages", __name__)
#: Files of the build that the site serves under /files/ (static maps, PDF sheets, their Leaflet copy).
BUILT_FILES = re.compile(r"(index\.html|schools/[A-Za-z0-9_.-]+\.(html|pdf)|lib/[A-Za-z0-9_./-]+\.(js|css|png|svg))")
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}")


@functools.lru_cache(maxsize=1024)  # every app has the same routes, so only the script root varies
def _link(script_root: str, endpoint: str, values: tuple[tuple[str, str], ...]) -> str:
    arguments: dict[str, Any] = dict(values)
    return url_for(endpoint, **arguments)  # url_for is slow and a page calls it often with the same arguments


@pages.app_context_processor
def _helpers() -> dict[str, object]:
    def here(**changes: object) -> str:
        """Return the URL of this page with some query parameters changed (language switch, pager)."""
        args = request.args.to_dict()
        args.update({k: str(v) for k, v in changes.items()})
        return f"{request.script_root}{quote(request.path)}?{urlencode(args)}"

    lang = g.get("lang", "zh")
    root = request.script_root
    return {
        "t": lambda key, **kw: translate(key, lang, **kw),
        "lang": lang,
        "here": here,
        "link": lambda endpoint, **values: _link(root, endpoint, tuple(sorted(values.items()))),
        "school_url": lambda school_id: f"{root}/school/{quote(str(school_id), safe='')}",
        "clock": clock,
        "label": lambda row, field="name": _label(row, field, lang),
        "category_label": lambda key: _category_labels(site(), lang).get(str(key), str(key)),
        "weekdays": WEEKDAYS[lang],
        "basemap_script": BASEMAP_SCRIPT if (current_app.config["MAPGEN_DATA"] / BASEMAP_SCRIPT).is_file() else None,
        "error_key": error_key,
    }


@pages.app_template_filter("minutes")
def _minutes(m: float | None) -> str:
    """Whole minutes as planned (rounded up, as on the maps and sheets: :func:`mapgen.look.whole_minutes`)."""
    rounded = whole_minutes(m)
    return "" if rounded is None else str(rounded)


def _category_labels(info: SiteInfo, lang: str) -> dict[str, str]:
    """Each category's label in `lang`, from ``site.db``'s categories (the taxonomy's labels, never the key)."""
    return {str(c["key"]): str((c["en"] if lang == "en" else c["zh"]) or c["zh"] or c["en"]) for c in info.categories}


def _label(row: dict[str, object], field: str = "name", lang: str | None = None) -> str:
    """The English form of a name or category in English when there is one, the Chinese form otherwise."""
    if (lang or g.get("lang")) == "en":
        english = row.get(f"{field}_en") or row.get("en")
        if english:
            return str(english)
    return str(row.get(field) or row.get(f"{field}_zh") or row.get("zh") or "")


def _category_class(info: SiteInfo) -> dict[str, str]:
    """CSS class of each category's colour (``/colours.css`` gives each its taxonomy colour)."""
    return {str(c["key"]): f"cat-{i}" for i, c in enumerate(info.categories)}


def _category_color(info: SiteInfo) -> dict[str, str]:
    """The taxonomy colour of each category (``categories.color`` in ``site.db``), checked to be a hex colour."""
    return {
        str(c["key"]): str(c["color"]) if _HEX_COLOR.fullmatch(str(c["color"])) else NO_CATEGORY_COLOR
        for c in info.categories
    }


@pages.get("/colours.css")
@cacheable
def colours() -> ResponseReturnValue:
    """The categories' colours from the taxonomy, as CSS classes (the pages allow no inline styles)."""
    info = site()
    color = _category_color(info)
    rules = [f".{cls} {{ background: {color[key]}; }}" for key, cls in _category_class(info).items()]
    return Response("\n".join(rules) + "\n", mimetype="text/css")


@pages.get("/")
@cacheable
def home() -> ResponseReturnValue:
    """Home: one search box, the categories and the schools."""
    info = site()
    return render_template("home.html", info=info, cat_class=_category_class(info))


@pages.get("/search")
@cacheable
def results() -> ResponseReturnValue:
    """Search results with filters (kept in one form with the search box), matching schools and a map."""
    info = site()
    filled = {
        k: v for k, v in request.args.items() if v != "" and k not in ("lang", "format")
    }  # a form sends empty fields
    query = VenueQuery.parse(filled, info)
    page = search_venues(db(), query, info, current_app.config["MAPGEN_CLOCK"]())
    cat_class = _category_class(info)
    show = _venue_display(info)
    rows = [(v, show(v)) for v in page.results]
    first = (page.page - 1) * page.per_page + 1
    schools = search_schools(db(), query.q, info) if query.q else []
    lang = g.get("lang", "zh")
    color = _category_color(info)
    markers = [
        {**_marker({**v, query.mode: v["minutes"]} if query.school else v, shown, color), "number": first + i}
        for i, (v, shown) in enumerate(rows)
    ]
    chosen = next((s for s in info.schools if s["school_id"] == query.school), None)
    map_data: dict[str, object] = {
        **_tiles(info),
        "venues": markers,
        "layers": {},
        "numbered": True,
        "school": None
        if chosen is None
        else {"lon": chosen["map_lon"], "lat": chosen["map_lat"], "name": _label(chosen)},
        **_mode_data(lang),
    }
    if chosen is not None:
        map_data["isochrones_url"] = url_for("api.school_isochrones", school_id=chosen["school_id"])
        map_data["only_mode"] = query.mode
    return render_template(
        "results.html",
        info=info,
        query=query,
        page=page,
        rows=rows,
        cat_class=cat_class,
        first=first,
        schools=schools,
        map_data=map_data,
        hours=_hours(page.results, lang),
    )


@pages.get("/venue/<path:venue_id>")  # catalogue ids may hold "/"
@cacheable
def venue(venue_id: str) -> ResponseReturnValue:
    """A venue: details, weekly hours, small map, the schools that reach it and in how many minutes."""
    info = site()
    found = venue_detail(db(), venue_id)
    if found is None:
        abort(404, "unknown venue")
    by_day: list[list[str]] = [[] for _ in range(7)]
    for day, start, end in found["opening"]:  # type: ignore[attr-defined]
        by_day[day].append(f"{clock(start)}–{clock(end)}")
    cat_class = _category_class(info)
    map_data = {
        **_tiles(info),
        "venues": [_marker(found, _venue_display(info)(found), _category_color(info))],
        "school": None,
        "layers": {},
        **_mode_data(g.get("lang", "zh")),
    }
    hours = _hours([found], g.get("lang", "zh"))[str(found["venue_id"])]
    return render_template(
        "venue.html", info=info, v=found, by_day=by_day, map_data=map_data, cat_class=cat_class, hours=hours
    )


@pages.get("/school/<school_id>")
@cacheable
def school(school_id: str) -> ResponseReturnValue:
    """A school: its map with walk/bike circles, its venues grouped by category and sorted by time."""
    info = site()
    found = school_detail(db(), school_id)
    if found is None:
        abort(404, "unknown school")
    cat_class = _category_class(info)
    show = _venue_display(info)
    reached = school_venues(db(), school_id)
    venues = [(v, show(v)) for v in reached]
    groups = [(c, [(v, shown) for v, shown in venues if v["category"] == c["key"]]) for c in info.categories]
    groups = [(c, members) for c, members in groups if members]
    lang = g.get("lang", "zh")
    layers: dict[str, str] = {
        m: f"{mode_label(m, lang)} {info.minutes:g} {translate('minutes', lang)}" for m in ("walk", "bike")
    }
    layers.update({str(c["key"]): f"{_label(c)} ({len(members)})" for c, members in groups})
    color = _category_color(info)
    map_data: dict[str, object] = {
        **_tiles(info),
        "school": {"lon": found["map_lon"], "lat": found["map_lat"], "name": _label(found)},
        "isochrones_url": url_for("api.school_isochrones", school_id=school_id),
        "venues": [_marker(v, shown, color) for v, shown in venues],
        "layers": layers,
        **_mode_data(lang),
    }
    data_dir: Path = current_app.config["MAPGEN_DATA"]
    links = {kind: (data_dir / "schools" / f"{school_id}.{kind}").is_file() for kind in ("html", "pdf")}
    at_edge = (
        db()
        .execute(
            "SELECT count(*) FROM isochrones i JOIN schools s ON s.id = i.school"
            " WHERE s.school_id = ? AND i.reaches_data_edge = 1",
            (school_id,),
        )
        .fetchone()[0]
    )
    on_campus = (
        db()
        .execute(
            "SELECT c.name, c.category_zh, c.category_en FROM campus c JOIN schools s ON s.id = c.school"
            " WHERE s.school_id = ? ORDER BY c.name",
            (school_id,),
        )
        .fetchall()
    )
    return render_template(
        "school.html",
        info=info,
        s=found,
        groups=groups,
        map_data=map_data,
        links=links,
        cat_class=cat_class,
        at_edge=at_edge,
        on_campus=on_campus,
        hours=_hours(reached, lang),
    )


@pages.get("/files/<path:name>")
def built_file(name: str) -> ResponseReturnValue:
    """The build's static maps, PDF sheets and their Leaflet copy (nothing else of the data folder)."""
    if not BUILT_FILES.fullmatch(name) or ".." in name:
        abort(404)
    return send_from_directory(current_app.config["MAPGEN_DATA"], name)


@pages.get("/lib/leaflet/<path:name>")
def leaflet(name: str) -> ResponseReturnValue:
    """Leaflet's JS, CSS and images from the XStatic package (no CDN)."""
    return send_from_directory(xs_leaflet.BASE_DIR, name)


def _hours(venues: list[dict[str, object]], lang: str) -> dict[str, str]:
    """Each venue's opening hours in words, worded as on the maps and sheets (:func:`mapgen.look.hours_words`)."""
    days = opening_days(db(), [str(v["venue_id"]) for v in venues])
    return {
        str(v["venue_id"]): hours_words(
            str(v["opening_hours"]), days[str(v["venue_id"])] if v["hours_known"] else None, lang
        )
        for v in venues
    }


def _tiles(info: object) -> dict[str, object]:
    meta = info.meta  # type: ignore[attr-defined]
    return {
        "tiles": {"url": meta["tiles_url"], "attribution": meta["tiles_attribution"]},
        "attribution": meta["attribution"],
    }


def _venue_display(info: SiteInfo) -> Callable[[dict[str, object]], dict[str, str]]:
    """Return what lists and maps show of a venue: name and category in the page's language, colour class, URL.

    The language and script root are read once per page, not once per venue (request-local lookups are slow).
    """
    lang, root = g.get("lang", "zh"), request.script_root
    cat_class, labels = _category_class(info), _category_labels(info, lang)

    def show(v: dict[str, object]) -> dict[str, str]:
        return {
            "label": _label(v, "name", lang),
            "category_label": labels.get(str(v["category"])) or str(v["category_zh"] or v["category"]),
            "cls": cat_class.get(str(v["category"]), ""),
            "url": f"{root}/venue/{quote(str(v['venue_id']), safe='')}",
        }

    return show


def _mode_data(lang: str) -> dict[str, object]:
    """Mode colours and labels and the minutes unit for map.js (from :mod:`mapgen.look`, as on the maps and sheets)."""
    return {
        "mode_colors": MODE_COLORS,
        "mode_dash": MODE_DASH,
        "school_color": SCHOOL_COLOR,
        "minutes_label": translate("minutes", lang),
        "mode_labels": {m: mode_label(m, lang) for m in ("walk", "bike")},
    }


def _marker(v: dict[str, object], shown: dict[str, str], color: dict[str, str]) -> dict[str, object]:
    times = {m: whole_minutes(v.get(m)) for m in ("walk", "bike")}  # type: ignore[arg-type]
    return {
        "id": v["venue_id"],
        "name": shown["label"],
        "category": v["category"],
        "category_label": shown["category_label"],
        "color": color.get(str(v["category"]), NO_CATEGORY_COLOR),
        "lon": v["map_lon"],
        "lat": v["map_lat"],
        "walk": times["walk"],
        "bike": times["bike"],
        "hours": v["opening_hours"],
        "url": shown["url"],
    }
