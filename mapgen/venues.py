"""Venues taken from OSM features: classified by the taxonomy, one per place, named, with their hours flags."""

from __future__ import annotations

import re
from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
import shapely

from mapgen.config import Settings
from mapgen.contract import TRUTH_COLUMNS, VENUE_COLUMNS
from mapgen.geo import utm_crs_of_bounds
from mapgen.hours import open_after_school, open_weekend, parse_hours
from mapgen.osm_extract import HighwayWay, feature_tags
from mapgen.sitetext import normalise
from mapgen.taxonomy import Facility, Taxonomy

_WORK_COLUMNS = ["named", "facility", "part", "parent", "names", "wikidata"]
_NAME_KEYS = ("name", "name:zh", "name:en", "official_name")
_CJK = re.compile(r"[\u3400-\u9fff]")
# Details a kept venue takes from a merged one when it lacks them (with the columns read from them).
_FILLED: dict[str, tuple[str, ...]] = {
    "opening_hours": ("hours_parsed", "open_after_school", "open_weekend"),
    "name_en": (),
    "fee": (),
    "website": (),
    "phone": (),
    "address": (),
    "district": (),
}


def hours_flags(opening_hours: pd.Series, settings: Settings) -> pd.DataFrame:
    """Read opening-hours texts into the contract's flags.

    Parameters
    ----------
    opening_hours
        Texts as found (OSM syntax or Chinese); empty when unknown.
    settings
        The after-school window (``after_school_start``/``after_school_end``).

    Returns
    -------
    pandas.DataFrame
        ``hours_parsed`` (bool: the text was understood; false keeps it verbatim, flagged),
        ``open_after_school`` and ``open_weekend`` (nullable booleans: missing when unknown).
    """
    window = settings.after_school_start, settings.after_school_end
    texts = opening_hours.where(opening_hours.map(lambda t: isinstance(t, str)), "").astype(str)
    flags = {}
    for text in texts.unique():  # lists repeat the same few texts
        parsed = parse_hours(text) if text.strip() else None
        flags[text] = (parsed is not None, open_after_school(parsed, *window), open_weekend(parsed))
    rows = [flags[t] for t in texts]
    return pd.DataFrame(
        {
            "hours_parsed": [r[0] for r in rows],
            "open_after_school": pd.array([r[1] for r in rows], dtype="boolean"),
            "open_weekend": pd.array([r[2] for r in rows], dtype="boolean"),
        },
        index=opening_hours.index,
    )


def venues_from_osm(
    features: gpd.GeoDataFrame, taxonomy: Taxonomy, settings: Settings | None = None
) -> gpd.GeoDataFrame:
    """Classify OSM features into venues.

    Venues with closed access (``settings.closed_access``) are left out unless they lie on
    school grounds (they may be a school's own facilities) or ``include_non_public_venues``
    is set; venues on school grounds or with closed access have ``public`` = false. An
    unnamed venue is called by its facility word (``篮球场``) until :func:`settle_venues`
    names it by place.

    Parameters
    ----------
    features
        Tagged OSM features (``element``, ``osm_id``, tag columns, geometry) in WGS-84.
    taxonomy
        The category taxonomy and facility words.
    settings
        The after-school window of the hours flags (default 16:00–18:00), ``language``,
        ``closed_access``, ``campus_amenities``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per venue: :data:`VENUE_COLUMNS`, :data:`TRUTH_COLUMNS`, ``geometry`` (a point on
        the venue), ``footprint`` (its full OSM geometry, used to find entrances) and the
        working columns of :func:`settle_venues` (``named``, ``facility``, ``part``, ``parent``,
        ``names``, ``wikidata``).
    """
    from mapgen.campus import grounds_of, school_grounds

    settings = settings or Settings()
    language = settings.language or "en"
    rows = []
    candidates = features[taxonomy.may_match(features)]
    for tags, element, osm_id, footprint in zip(
        feature_tags(candidates),
        candidates["element"].astype(str).tolist(),
        candidates["osm_id"].tolist(),
        candidates.geometry.array,
        strict=True,
    ):
        category = taxonomy.classify(tags)
        if category is None:
            continue
        facility = taxonomy.facility(tags)
        name = _display_name(tags, language)
        rows.append(
            {
                "venue_id": f"osm-{element[0]}{osm_id}",
                "name": name
                or (facility.word(language) if facility else category.en if language != "zh" else category.zh),
                "name_en": tags.get("name:en", ""),
                "category": category.key,
                "category_zh": category.zh,
                "category_en": category.en,
                "opening_hours": tags.get("opening_hours", ""),
                "fee": tags.get("fee", ""),
                "access": tags.get("access", ""),
                "source": "OpenStreetMap",
                "osm_id": f"{element}/{osm_id}",
                "address": " ".join(tags[k] for k in ("addr:street", "addr:housenumber") if tags.get(k)),
                "district": tags.get("addr:district", ""),
                "phone": tags.get("phone") or tags.get("contact:phone", ""),
                "safety": "",
                "website": tags.get("website") or tags.get("contact:website", ""),
                "location_method": "osm",
                "location_confidence": 1.0,
                "sources": f"OpenStreetMap {element}/{osm_id}",
                "facilities": "",
                "aliases": "",
                "search_terms": _search_terms(facility, tags),
                "public": tags.get("access") not in settings.closed_access,
                "campus": "",
                "category_source": "osm",
                "category_confidence": 1.0,
                "footprint": footprint,
                "named": bool(name),
                "facility": facility.key if facility else "",
                "part": bool(facility and facility.part),
                "parent": bool(name) and tags.get("leisure") in settings.facility_parents,
                "names": frozenset(normalise(tags[k]) for k in _NAME_KEYS if tags.get(k, "").strip()),
                "wikidata": tags.get("wikidata", ""),
            }
        )
    frame = pd.DataFrame(rows, columns=[*VENUE_COLUMNS, *TRUTH_COLUMNS, "footprint", *_WORK_COLUMNS])
    flags = hours_flags(frame["opening_hours"], settings)
    frame[flags.columns] = flags
    footprint = gpd.GeoSeries(frame["footprint"], crs=features.crs)
    points = footprint.representative_point() if len(frame) else footprint
    venues = gpd.GeoDataFrame(frame.assign(footprint=footprint), geometry=points, crs=features.crs)
    venues["campus"] = grounds_of(venues.geometry, venues["footprint"], school_grounds(features, settings)).to_numpy()
    venues["public"] = venues["public"].astype(bool) & (venues["campus"] == "")
    closed = ~venues["public"] & (venues["campus"] == "")
    return venues[~closed | settings.include_non_public_venues].reset_index(drop=True)


def settle_venues(
    venues: gpd.GeoDataFrame,
    features: gpd.GeoDataFrame,
    highways: Sequence[HighwayWay],
    taxonomy: Taxonomy,
    settings: Settings,
) -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    """One place, one venue, with a human name: merge same places, gather facilities, name the unnamed.

    1. Venues sharing a name (``name``, ``name:zh``, ``name:en``, ``official_name``) or a
       ``wikidata`` id within ``settings.same_place_m`` are one venue: the one whose category
       comes first in ``settings.category_priority`` is kept (then the largest), takes the
       largest outline and the missing details of the others; their names become ``aliases``.
    2. Unnamed facilities (courts, pitches, playgrounds: ``part`` in the taxonomy's facility
       table) inside a named venue whose ``leisure`` is in ``settings.facility_parents`` become
       entries of its ``facilities`` column (``足球场; 网球场 ×3``) instead of venues; an unnamed
       outline of the holder's own kind inside it is the holder itself. Facilities with a name of
       their own stay venues.
    3. Unnamed venues are named by :func:`mapgen.naming.generated_names` in ``settings.language``.

    Parameters
    ----------
    venues
        From :func:`venues_from_osm`.
    features
        The extract's tagged features (the places that name a venue).
    highways
        The extract's street ways (the streets that name a venue).
    taxonomy
        Category taxonomy with the facility words.
    settings
        As above.

    Returns
    -------
    tuple
        The venues (:data:`VENUE_COLUMNS`, :data:`TRUTH_COLUMNS`, ``geometry``, ``footprint``) and
        a report: ``same_place`` (venues merged into another), ``same_place_groups`` (the merges),
        ``facilities_gathered``, ``named_from_tags``.
    """
    from mapgen.naming import generated_names

    language = settings.language or "en"
    venues, groups = _merge_same_places(venues, settings, language)
    venues, gathered = _gather_facilities(venues, taxonomy, language)
    unnamed = ~venues["named"].astype(bool)
    words = venues.loc[unnamed, "name"]
    venues.loc[unnamed, "name"] = generated_names(venues[unnamed], words, features, highways, language, settings)
    report: dict[str, object] = {
        "same_place": sum(len(g["merged"]) for g in groups),  # type: ignore[misc, arg-type]
        "same_place_groups": groups,
        "facilities_gathered": gathered,
        "named_from_tags": int(unnamed.sum()),
    }
    return venues.drop(columns=_WORK_COLUMNS).reset_index(drop=True), report


def _merge_same_places(
    venues: gpd.GeoDataFrame, settings: Settings, language: str
) -> tuple[gpd.GeoDataFrame, list[dict[str, object]]]:
    if len(venues) < 2:
        return venues, []
    metric = venues["footprint"].to_crs(utm_crs_of_bounds(venues.total_bounds))
    left, right = shapely.STRtree(metric.values).query(
        metric.values, predicate="dwithin", distance=settings.same_place_m
    )
    names, wikidata = venues["names"].to_numpy(), venues["wikidata"].to_numpy()
    parent = list(range(len(venues)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(left, right, strict=True):
        if a < b and (names[a] & names[b] or (wikidata[a] and wikidata[a] == wikidata[b])):
            parent[root(b)] = root(a)
    group = pd.Series([root(i) for i in range(len(venues))], index=venues.index)
    if group.nunique() == len(venues):
        return venues, []
    rank = {c: i for i, c in enumerate(settings.category_priority)}
    area = pd.Series(shapely.area(metric.values), index=venues.index)
    order = pd.DataFrame(
        {
            "group": group,
            "rank": venues["category"].map(rank).fillna(len(rank)),
            "area": -area,
            "id": venues["venue_id"],
        }
    ).sort_values(["group", "rank", "area", "id"])
    venues = venues.copy()
    drop, report = [], []
    for _, members in order.groupby("group", sort=False):
        if len(members) == 1:
            continue
        keep, others = members.index[0], list(members.index[1:])
        largest = area[members.index].idxmax()
        venues.at[keep, "footprint"] = venues.at[largest, "footprint"]
        for column, linked in _FILLED.items():
            if not venues.at[keep, column]:
                donor = next((o for o in others if venues.at[o, column]), None)
                if donor is not None:
                    for c in (column, *linked):
                        venues.at[keep, c] = venues.at[donor, c]
        every = list(dict.fromkeys(venues.loc[[keep, *others], "name"]))
        venues.at[keep, "name"] = _in_language(every, language)
        kept_names = {venues.at[keep, "name"], venues.at[keep, "name_en"]}
        aliases = [n for n in every if n not in kept_names]
        venues.at[keep, "aliases"] = "; ".join(filter(None, [venues.at[keep, "aliases"], *aliases]))
        venues.at[keep, "sources"] = "; ".join(venues.loc[[keep, *others], "sources"])
        venues.at[keep, "search_terms"] = _joined_words(venues.loc[[keep, *others], "search_terms"])
        venues.at[keep, "named"] = bool(venues.loc[[keep, *others], "named"].any())
        drop.extend(others)
        report.append(
            {
                "venue_id": venues.at[keep, "venue_id"],
                "name": venues.at[keep, "name"],
                "category": venues.at[keep, "category"],
                "merged": [
                    {
                        "venue_id": venues.at[o, "venue_id"],
                        "name": venues.at[o, "name"],
                        "category": venues.at[o, "category"],
                    }
                    for o in others
                ],
            }
        )
    return venues.drop(index=drop), report


def _gather_facilities(venues: gpd.GeoDataFrame, taxonomy: Taxonomy, language: str) -> tuple[gpd.GeoDataFrame, int]:
    parents = venues[venues["parent"].astype(bool)]
    parts = venues[~venues["named"].astype(bool)]  # a facility with a name of its own stays a venue
    if parents.empty or parts.empty:
        return venues, 0
    part_idx, parent_idx = shapely.STRtree(parents["footprint"].values).query(parts.geometry.values, predicate="within")
    own = shapely.area(parts["footprint"].values)[part_idx]
    holder_area = shapely.area(parents["footprint"].values)[parent_idx]
    hits = pd.DataFrame(
        {
            "part": parts.index[part_idx],
            "parent": parents.index[parent_idx],
            "area": holder_area,
        }
    )[
        (holder_area >= own)
        & (parts["campus"].to_numpy()[part_idx] == parents["campus"].to_numpy()[parent_idx])
        & (
            parts["part"].to_numpy()[part_idx]  # or an unnamed outline of the holder's own kind
            | (parts["facility"].to_numpy()[part_idx] == parents["facility"].to_numpy()[parent_idx])
        )
    ]
    hits = hits.sort_values("area").drop_duplicates("part")
    if hits.empty:
        return venues, 0
    venues = venues.copy()
    by_key = {f.key: f for f in taxonomy.facilities}
    for holder, members in hits.groupby("parent"):
        rows = venues.loc[members["part"]]
        rows = rows[rows["facility"] != venues.at[holder, "facility"]]
        labels = [
            by_key[f].word(language) if f in by_key else n for n, f in zip(rows["name"], rows["facility"], strict=True)
        ]
        counts = pd.Series(labels).value_counts(sort=False)
        entries = [label if n == 1 else f"{label} ×{n}" for label, n in counts.items()]
        venues.at[holder, "facilities"] = "; ".join(filter(None, [venues.at[holder, "facilities"], *entries]))
        venues.at[holder, "search_terms"] = _joined_words(
            pd.concat([venues.loc[[holder], "search_terms"], rows["search_terms"]])
        )
        venues.at[holder, "sources"] = "; ".join(venues.loc[[holder, *members["part"]], "sources"])
    return venues.drop(index=hits["part"]), len(hits)


def _search_terms(facility: Facility | None, tags: dict[str, str]) -> str:
    sports = tags.get("sport", "").replace(";", " ").replace("_", " ")
    return " ".join(dict.fromkeys(f"{facility.search_words if facility else ''} {sports}".split()))


def _joined_words(texts: pd.Series) -> str:
    return " ".join(dict.fromkeys(" ".join(t for t in texts if isinstance(t, str)).split()))


def _display_name(tags: dict[str, str], language: str) -> str:
    names = [tags[k].strip() for k in (f"name:{language}", *_NAME_KEYS) if tags.get(k, "").strip()]
    return _in_language(names, language)


def _in_language(names: Sequence[str], language: str) -> str:
    """The first of `names` written in `language` (Chinese: with Chinese characters), else the first."""
    if language == "zh":
        return next((n for n in names if _CJK.search(n)), names[0] if names else "")
    return names[0] if names else ""
