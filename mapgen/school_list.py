"""Reconcile an official school list (names, addresses, ids, no coordinates) with the extract's OSM schools."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rapidfuzz import fuzz

from mapgen.catalog import MARKUP, build_gazetteer, geocode, map_columns, read_table
from mapgen.catalog.names import BRACKETED, REGION_PREFIX
from mapgen.config import CatalogueSettings, SchoolListConfig
from mapgen.contract import SCHOOL_COLUMNS, ReviewLog
from mapgen.geo import distance_m

#: Field → headers of an official school list (compared like a catalogue's: case, full-width and
#: traditional characters folded).
SCHOOL_LIST_ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "id",
        "school_id",
        "学校代码",
        "学校标识码",
        "学校编号",
        "编号",
        "代码",
        "标识码",
        "code",
        "序号",
        "schulnummer",
        "dienststellennummer",
    ),
    "name": ("name", "学校名称", "学校", "名称", "校名", "单位名称", "school", "school name", "schule", "schulname"),
    "address": ("address", "地址", "学校地址", "详细地址", "办学地址", "校址", "adresse", "anschrift"),
    "district": ("district", "区", "所属区", "区县", "所在区", "行政区", "county", "bezirk", "stadtteil"),
}
_ORDINAL = re.compile(r"第([零〇一二三四五六七八九十百\d]+)(高级中学|初级中学|中学|小学)")
_KIND = (("高级中学", "高中"), ("初级中学", "初中"), ("附属中学", "附中"), ("附属小学", "附小"))
_SHORT = {"中学": "中", "小学": "小", "高级中学": "高中", "初级中学": "初中"}
_DIGITS = "零一二三四五六七八九"
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NOT_PLACES = ("highway", "railway", "public_transport", "aeroway", "waterway")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class SchoolKey:
    """A school name folded for matching: ``key`` (place prefix off, ordinals short), its branch words, tokens."""

    key: str
    branches: frozenset[str]
    tokens: frozenset[str]


@dataclass
class Reconciled:
    """What reconciling an official list produced.

    ``schools`` are the schools of the build (matched official schools with OSM's position and
    campus, plus the OSM schools not on the list unless the list is complete); ``review`` the
    official rows not found (with their best candidate); ``summary`` the figures and the OSM
    schools left out.
    """

    schools: gpd.GeoDataFrame
    review: ReviewLog
    summary: dict[str, object] = field(default_factory=dict)


def school_key(name: object, spec: SchoolListConfig, settings: CatalogueSettings) -> SchoolKey:
    """Fold a school name for matching.

    NFKC, lower case, German umlauts spelt out and other accents dropped; bracketed remarks dropped unless they name a
    campus or branch (``（金銮校区）``); leading province, city and district names and the
    settings' place prefixes stripped (``南京市金陵中学`` → ``金陵中学``); ordinals shortened
    (``第一中学`` → ``一中``, ``第九初级中学`` → ``九初中``, ``高级中学`` → ``高中``).

    Parameters
    ----------
    name
        The name as written.
    spec
        The list's settings: branch words (分校, 校区, campus…).
    settings
        Place prefixes stripped from names.

    Returns
    -------
    SchoolKey
    """
    if not isinstance(name, str):
        return SchoolKey("", frozenset(), frozenset())
    text = _fold_latin(name)
    text = BRACKETED.sub(lambda m: m.group(1) if _branches(m.group(1), spec) else " ", text)
    tokens = frozenset(t for t in re.split(r"[^\w]+", text) if t)
    key = _ORDINAL.sub(lambda m: _chinese_number(m.group(1)) + _SHORT[m.group(2)], re.sub(r"[^\w]+", "", text))
    for long, short in _KIND:
        key = key.replace(long, short)
    while True:
        stripped = REGION_PREFIX.sub("", key, count=1)
        for prefix in settings.place_prefixes:
            stripped = stripped.removeprefix(prefix)
        if stripped == key or len(stripped) < 2:
            break
        key = stripped
    return SchoolKey(key, _branches(key, spec), tokens)


def _fold_latin(text: str) -> str:
    """NFKC, lower case, umlauts spelt out (ü → ue), other accents dropped (École → ecole); CJK untouched."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_GERMAN)
    return unicodedata.normalize(
        "NFC", "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    )


def _branches(text: str, spec: SchoolListConfig) -> frozenset[str]:
    return frozenset(w for w in spec.branch_words if w in text)


def _chinese_number(text: str) -> str:
    """Arabic ordinals in Chinese numerals (``13`` → ``十三``); Chinese ones unchanged."""
    if not text.isdigit():
        return text
    n = int(text)
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "") if n < 100 else text


def school_score(a: SchoolKey, b: SchoolKey, spec: SchoolListConfig, *, across_branches: bool = False) -> float:
    """Similarity of two school names, 0–1.

    Different branch words (a 分校 or 校区 on one side only, or different ones) score 0: a
    branch is another school. Equal keys score 1. Names written in Latin letters where every
    distinctive word of one is in the other (``Helmholtz-Gymnasium Heidelberg`` ~
    ``Helmholtz-Gymnasium``) score 0.95; otherwise the edit-distance ratio of the keys, damped
    (a one-character typo in a four-character Chinese name scores about 0.71).

    Parameters
    ----------
    a, b
        Keys from :func:`school_key`.
    spec
        Generic school words (Schule, Gymnasium, school…) that do not identify a school.
    across_branches
        Score as if the branch words were equal (to name the nearest school of another branch).

    Returns
    -------
    float
    """
    if not a.key or not b.key or (a.branches != b.branches and not across_branches):
        return 0.0
    if a.key == b.key:
        return 1.0
    if not _CJK.search(a.key + b.key):
        small, large = sorted((a.tokens, b.tokens), key=len)
        generic = {_fold_latin(w) for w in spec.generic_words}
        if small <= large and small - generic:
            return 0.95
    return fuzz.ratio(a.key, b.key) / 100.0 * 0.95


def read_school_list(spec: SchoolListConfig, review: ReviewLog) -> pd.DataFrame:
    """Read an official school list: CSV, XLSX or JSON with names, optional ids, addresses and districts.

    Rows without a name, or whose name holds markup, go to `review`.

    Returns
    -------
    pandas.DataFrame
        ``row`` (spreadsheet line / record number), ``id``, ``name``, ``address``, ``district``.
    """
    table = read_table(spec.file)
    columns = map_columns(table, spec.columns, SCHOOL_LIST_ALIASES)
    rows = table.rows
    data = pd.DataFrame({"row": rows["_row"]})
    for key in SCHOOL_LIST_ALIASES:
        data[key] = rows[columns[key]].astype(str).str.strip() if key in columns else ""
    empty = data[["id", "name", "address", "district"]].eq("").all(axis=1)
    bad = data["name"].eq("") | data["name"].str.contains(MARKUP)
    for i in data.index[bad & ~empty]:
        review.add(
            spec.file.name,
            int(data.at[i, "row"]),
            columns["name"],
            "missing name" if not data.at[i, "name"] else "name contains HTML/script markup",
            data.at[i, "name"],
        )
    return data[~bad & ~empty].reset_index(drop=True)


def candidate_places(features: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Places an official school may be: the OSM schools, then other named areas and school buildings.

    Other places are named features that are not streets, rails, stops or platforms: polygons
    (a school yard, a campus mapped without ``amenity=school``) and ``building=school`` points.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id``, ``name``, ``name_en``, ``is_school``, ``footprint``, point ``geometry``.
    """
    own = pd.DataFrame(
        {
            "osm_id": schools["osm_id"],
            "name": schools["name"],
            "name_en": schools["name_en"],
            "is_school": True,
            "footprint": schools["footprint"].values,
        }
    )
    names = features["name"] if "name" in features else pd.Series(np.nan, index=features.index)
    ids = features["element"].astype(str) + "/" + features["osm_id"].astype(str)
    moving = np.zeros(len(features), dtype=bool)
    for key in _NOT_PLACES:
        if key in features:
            moving |= features[key].notna().to_numpy()
    area = features.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    building = (features["building"] == "school").to_numpy() if "building" in features else False
    keep = names.notna().to_numpy() & ~moving & (area | building) & ~ids.isin(set(schools["osm_id"])).to_numpy()
    chosen = features[keep]
    other = pd.DataFrame(
        {
            "osm_id": ids[keep],
            "name": names[keep],
            "name_en": chosen["name:en"] if "name:en" in chosen else "",
            "is_school": False,
            "footprint": chosen.geometry.values,
        }
    )
    frame = pd.concat([own, other], ignore_index=True)
    footprint = gpd.GeoSeries(frame["footprint"], crs=4326)
    return gpd.GeoDataFrame(frame.assign(footprint=footprint), geometry=footprint.representative_point(), crs=4326)


def reconcile_school_list(
    spec: SchoolListConfig,
    osm_schools: gpd.GeoDataFrame,
    features: gpd.GeoDataFrame,
    settings: CatalogueSettings,
) -> Reconciled:
    """Match an official school list to the extract's schools and named places.

    Every official row is scored against every candidate (:func:`school_score`); a name score
    of at least ``spec.min_confidence`` matches, and so does one of at least
    ``spec.address_min_confidence`` when the row's address geocodes (offline, on the
    extract's addresses) within ``spec.address_m`` of the candidate. Each candidate takes
    one row, best scores first. A matched school keeps the list's name and id with OSM's
    position, campus and ``osm_id``; rows not found go to review naming the best candidate.
    With ``spec.complete`` the OSM schools not on the list are left out.

    Parameters
    ----------
    spec
        The list file, its name, columns, thresholds and whether it is complete.
    osm_schools
        Schools from :func:`mapgen.schools.schools_from_osm`.
    features
        The extract's tagged features (names, addresses, geometry), WGS-84.
    settings
        Place prefixes and the address geocoder's settings.

    Returns
    -------
    Reconciled
    """
    review = ReviewLog()
    listed = read_school_list(spec, review)
    invalid = len(review)
    places = candidate_places(features, osm_schools)
    place_keys = [school_key(n, spec, settings) for n in places["name"]]
    row_keys = [school_key(n, spec, settings) for n in listed["name"]]
    scores = np.array([[school_score(r, p, spec) for p in place_keys] for r in row_keys]).reshape(
        len(row_keys), len(place_keys)
    )
    near = _address_near(listed, places, features, spec, settings)
    accepted = (scores >= spec.min_confidence) | ((scores >= spec.address_min_confidence) & near)
    school = places["is_school"].to_numpy()
    taken: dict[int, int] = {}
    chosen: dict[int, int] = {}
    # best scores first; on a tie a school beats its yard or pitch, and an address-confirmed place the others
    for r, p in sorted(
        zip(*np.nonzero(accepted), strict=True), key=lambda rp: (-scores[rp], not near[rp], not school[rp[1]])
    ):
        if r not in chosen and p not in taken:
            chosen[int(r)], taken[int(p)] = int(p), int(r)
    rows = []
    for r, p in sorted(chosen.items()):
        place, entry = places.iloc[p], listed.iloc[r]
        given = entry["id"] or str(entry["row"])
        rows.append(
            {
                "school_id": f"{spec.label}-" + re.sub(r"[^0-9A-Za-z_-]", "_", given),
                "name": entry["name"],
                "name_en": place["name_en"] if isinstance(place["name_en"], str) else "",
                "source": spec.file.name,
                "osm_id": place["osm_id"],
                "footprint": place["footprint"],
                "from_osm": True,
                "match_name": place["name"],
                "match_confidence": round(float(scores[r, p]), 3),
                "match_method": "name+address" if near[r, p] and scores[r, p] < spec.min_confidence else "name",
            }
        )
    for r in range(len(listed)):
        if r in chosen:
            continue
        entry = listed.iloc[r]
        across = [school_score(row_keys[r], p, spec, across_branches=True) for p in place_keys]
        review.add(
            spec.file.name,
            int(entry["row"]),
            "name",
            _not_found(r, scores, np.array(across), places, taken, listed, spec),
            entry["name"],
        )
    matched_osm = {places.at[p, "osm_id"] for p in chosen.values()}
    rest = osm_schools[~osm_schools["osm_id"].isin(matched_osm)]
    left_out = rest[["school_id", "name", "osm_id"]].to_dict("records") if spec.complete else []
    frame = pd.DataFrame(
        rows, columns=[*SCHOOL_COLUMNS, "footprint", "from_osm", "match_name", "match_confidence", "match_method"]
    )
    if not spec.complete:
        frame = pd.concat([frame, rest.drop(columns="geometry").assign(from_osm=True)], ignore_index=True)
    footprint = gpd.GeoSeries(frame["footprint"], crs=4326)
    schools = gpd.GeoDataFrame(frame.assign(footprint=footprint), geometry=footprint.representative_point(), crs=4326)
    summary = {
        "file": spec.file.name,
        "rows": len(listed) + invalid,
        "matched": len(chosen),
        "matched_by_address": sum(r["match_method"] == "name+address" for r in rows),
        "matched_other_places": sum(not places.at[p, "is_school"] for p in chosen.values()),
        "to_review": len(review),
        "complete": spec.complete,
        "osm_schools_not_listed": len(rest),
        "left_out": left_out,
    }
    return Reconciled(schools, review, summary)


def _not_found(
    r: int,
    scores: np.ndarray,
    across: np.ndarray,
    places: gpd.GeoDataFrame,
    taken: dict[int, int],
    listed: pd.DataFrame,
    spec: SchoolListConfig,
) -> str:
    """Why official row `r` matched nothing, naming its best candidate (another branch when that is closer)."""
    if not len(places):
        return "not found: the extract has no schools or named places"
    p, q = int(np.argmax(scores[r])), int(np.argmax(across))
    best = f"'{places.at[p, 'name']}' ({places.at[p, 'osm_id']})"
    if across[q] >= spec.address_min_confidence and across[q] > scores[r, p]:
        return (
            f"not found: the closest is another branch or campus, '{places.at[q, 'name']}' "
            f"({places.at[q, 'osm_id']}); branches are kept apart"
        )
    if scores[r, p] == 0:
        return "not found: no school or named place of the extract resembles the name"
    if p in taken and scores[r, p] >= spec.min_confidence:
        return f"not found: best candidate {best} is already matched to row {listed.at[taken[p], 'row']}"
    return (
        f"not found among the extract's schools and places: best candidate {best} has confidence "
        f"{scores[r, p]:.2f} < {spec.min_confidence:.2f}"
    )


def _address_near(
    listed: pd.DataFrame,
    places: gpd.GeoDataFrame,
    features: gpd.GeoDataFrame,
    spec: SchoolListConfig,
    settings: CatalogueSettings,
) -> np.ndarray:
    """Rows × places: the row's address geocodes within ``spec.address_m`` of the place."""
    near = np.zeros((len(listed), len(places)), dtype=bool)
    has = listed["address"].ne("")
    if not has.any() or not len(places):
        return near
    gazetteer = build_gazetteer(features, settings)
    found = geocode(listed.loc[has, ["address", "district"]].assign(name=""), gazetteer, settings)
    for r, hit in found.iterrows():
        if np.isnan(hit["lon"]):
            continue
        point = shapely.Point(hit["lon"], hit["lat"])
        gap = distance_m(hit["lon"], hit["lat"], places.geometry.x.to_numpy(), places.geometry.y.to_numpy())
        inside = shapely.contains(places["footprint"].values, point)
        near[int(r)] = (gap <= spec.address_m) | inside
    return near
