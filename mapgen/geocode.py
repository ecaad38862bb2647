"""Geocode venue names and Chinese addresses offline against a gazetteer of OSM (and other) features."""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rapidfuzz import fuzz, process

from mapgen.config import CatalogueSettings, OnlineGeocoder
from mapgen.errors import ConfigError, InputFileError
from mapgen.geo import convert, distance_m

#: Tags whose values name a feature in the gazetteer (old names are left out: they point at former uses).
NAME_TAGS = ("name", "name:zh", "name:zh-Hans", "official_name", "short_name", "alt_name")
#: A bracketed part of a name, half- or full-width (（…）, 【…】, 《…》…); group 1 is its content.
BRACKETED = re.compile(r"[(\[【<《「『]([^()\[\]【】<>《》「」『』]*)[)\]】>》」』]")
_PUNCT = re.compile(r"[\s·•・.,，、;；:：'\"“”‘’!！?？/\\|_~+*&＆#＃@-]+")
_SPLIT = re.compile(r"\s*(?:--+|——|—|·|•|・)\s*")
# "…市" but not 城市 (city as a word); "…区" but not 社区/小区/园区/景区… (not districts)
_CITY = r"[\u4e00-\u9fff]{1,3}(?<!城)市"
_DISTRICT_END = r"(?:新区|(?<![社小园景校街城护发假验贸片营])区|县)"
_PROVINCE = r"[\u4e00-\u9fff]{2,6}(?:省|自治区)"
#: Leading province, city and district names (江苏省南京市鼓楼区…).
REGION_PREFIX = re.compile(rf"^(?:{_PROVINCE})?(?:{_CITY})?(?:[\u4e00-\u9fff]{{2,3}}?{_DISTRICT_END})?")
_DISTRICT = re.compile(rf"[\u4e00-\u9fff]{{2,3}}?{_DISTRICT_END}")
_TOWN = re.compile(r"^[\u4e00-\u9fff]{2,4}(?:镇|乡|街道)")
_STREET = re.compile(r"([\u4e00-\u9fffa-z0-9]+?(?:大道|公路|路|大街|街|巷|道))(\d+)(?:-(\d+))?(?:号|弄)?")
_NUMBER = re.compile(r"(\d+)(?:\s*-\s*(\d+))?")
_NEAR_M = 300.0  # name and address agree when their places are this close
_AMBIGUOUS_M = 500.0  # equally good matches farther apart than this are ambiguous


@dataclass(frozen=True)
class Address:
    """The parts of a Chinese street address the gazetteer can match."""

    district: str
    street: str
    number: int | None


@dataclass(frozen=True)
class Gazetteer:
    """Named places to geocode against: one row per (feature, name) in ``entries``.

    ``entries`` columns: ``feature_id``, ``name`` (as written), ``key`` (normalised name),
    ``street``, ``num_lo``, ``num_hi`` (house-number range, -1 when absent), ``district``
    (normalised, "" when unknown), ``lon``, ``lat`` (WGS-84, a point on the feature), ``source``.
    ``area`` is the region the gazetteer covers (hull of its features), or None when empty.
    ``tags`` holds the features' tags (string columns), indexed by ``feature_id``: what a matched
    place is (``tourism=museum``), for the category of a catalogue row placed on it.
    """

    entries: pd.DataFrame
    area: shapely.Geometry | None
    tags: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def feature_tags(self, feature_id: str) -> dict[str, str]:
        """Return the tags of one feature (``{}`` when unknown): its non-empty string values."""
        if self.tags is None or feature_id not in self.tags.index:
            return {}
        row = self.tags.loc[feature_id]
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        return {k: v.strip() for k, v in row.items() if isinstance(v, str) and v.strip()}


# --- normalisation --------------------------------------------------------------------------


def normalise_text(text: object) -> str:
    """Return `text` folded for comparison: NFKC (full-width → half-width), lower case, no punctuation or spaces."""
    if not isinstance(text, str):
        return ""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def normalise_district(text: object, settings: CatalogueSettings) -> str:
    """Return a district name without 区/县/新区 and with old names replaced (``卢湾区`` → ``黄浦``)."""
    value = _strip_city(normalise_text(text), settings)
    value = re.sub(r"(?:新区|区|县)$", "", value)
    return settings.district_aliases.get(value, value)


def _strip_city(value: str, settings: CatalogueSettings) -> str:
    """Drop a leading country, province and city (``中国上海市``, ``上海``), keeping at least two characters."""
    while True:
        stripped = re.sub(rf"^(?:{_PROVINCE}|{_CITY})", "", value)
        for prefix in settings.place_prefixes:
            if stripped.startswith(prefix):
                stripped = stripped[len(prefix):].removeprefix("市")
        if stripped == value or len(stripped) < 2:
            return value
        value = stripped


def name_key(text: object, settings: CatalogueSettings) -> str:
    """Normalise a place name for matching.

    Full-width folded, bracketed remarks removed, leading place names (``上海市``,
    ``浦东新区``…) and identity-free endings (``旅游景区``) stripped — as long as a
    distinctive part remains (``上海博物馆`` stays itself, ``上海自然博物馆`` becomes
    ``自然博物馆``).

    Parameters
    ----------
    text
        A name as written.
    settings
        Place prefixes and noise endings.

    Returns
    -------
    str
    """
    if not isinstance(text, str):
        return ""
    value = normalise_text(BRACKETED.sub("", unicodedata.normalize("NFKC", text)))
    for suffix in settings.noise_suffixes:
        if value.endswith(suffix) and len(value) > len(suffix) + 1:
            value = value[: -len(suffix)]
            break
    while True:
        stripped = REGION_PREFIX.sub("", value, count=1)
        for prefix in settings.place_prefixes:
            if stripped.startswith(prefix):
                stripped = stripped[len(prefix):]
        if stripped == value or not split_kind(stripped, settings)[0]:
            return value
        value = stripped


def split_kind(key: str, settings: CatalogueSettings) -> tuple[str, str]:
    """Split a normalised name into its distinctive part and its venue-kind ending (``自然``, ``博物馆``)."""
    for kind in sorted(settings.kind_suffixes, key=len, reverse=True):
        if key.endswith(kind):
            return key[: -len(kind)], kind
    return key, ""


def name_variants(text: object, settings: CatalogueSettings) -> list[tuple[str, float]]:
    """Keys a catalogue name may be known by, with a weight.

    The whole name; the contents of its brackets (``上海科技馆分馆（上海自然博物馆）`` is the
    natural history museum) unless they name a former use (``原…``); and the parts of a
    compound name (``上海国际旅游度假区--迪士尼乐园``).
    """
    if not isinstance(text, str):
        return []
    text = unicodedata.normalize("NFKC", text)
    variants = [(name_key(text, settings), 1.0)]
    for inner in BRACKETED.findall(text):
        if inner and not inner.startswith(("原", "旧", "former", "ex")):
            variants.append((name_key(inner, settings), 0.97))
    outside = BRACKETED.sub("", text)
    parts = [p for p in _SPLIT.split(outside) if len(normalise_text(p)) >= 3]
    if len(parts) > 1:
        variants += [(name_key(p, settings), 0.95) for p in parts]
    seen: dict[str, float] = {}
    for key, weight in variants:
        if key and weight > seen.get(key, 0):
            seen[key] = weight
    return list(seen.items())


def name_score(query: str, candidate: str, settings: CatalogueSettings) -> float:
    """Similarity of two normalised names, 0–1, weighing their distinctive parts.

    Equal names score 1. A branch, old site or gate (``分馆``, ``旧馆``, ``检票口``…) on one
    side only scores 0. Otherwise the parts before the venue-kind ending are compared:
    equal parts score 0.92 when one side has no kind (``宋庆龄故居纪念馆`` ~ ``宋庆龄故居``);
    a candidate that is the start of the query scores 0.88 (``东方明珠广播电视塔`` ~
    ``东方明珠``); a query that is only the start of a longer candidate scores 0.7 — a
    different museum whose name merely contains a famous one's is not the famous one;
    anything else is a damped edit-distance ratio that needs near-identical parts to pass.

    Parameters
    ----------
    query, candidate
        Keys from :func:`name_key`.
    settings
        Kind endings and branch words.

    Returns
    -------
    float
    """
    if not query or not candidate:
        return 0.0
    if query == candidate:
        return 1.0
    if {w for w in settings.branch_words if w in query} != {w for w in settings.branch_words if w in candidate}:
        return 0.0
    core_q, kind_q = split_kind(query, settings)
    core_c, kind_c = split_kind(candidate, settings)
    if not core_q or not core_c or core_q in settings.place_prefixes or core_c in settings.place_prefixes:
        return 0.0  # nothing distinctive left (上海博物馆 vs 上海动物园)
    kinds_agree = kind_q == kind_c or not kind_q or not kind_c
    if core_q == core_c:
        return 1.0 if kind_q == kind_c else 0.92 if kinds_agree else 0.8
    if core_q.startswith(core_c) and len(core_c) >= 3:
        return 0.88 if kinds_agree else 0.8
    if core_c.startswith(core_q):
        return 0.7
    ratio = fuzz.ratio(core_q, core_c) / 100.0
    return ratio * (0.95 if kinds_agree else 0.85)


def parse_address(text: object, settings: CatalogueSettings) -> Address:
    """Split a Chinese address into district, street and house number.

    ``上海市黄浦区人民大道201号`` → (``黄浦``, ``人民大道``, 201). Brackets
    (``（静安雕塑公园内）``), the country, province and city are dropped; a missing
    part is "" or None.
    """
    if not isinstance(text, str):
        return Address("", "", None)
    value = _strip_city(normalise_text(BRACKETED.sub("", unicodedata.normalize("NFKC", text))), settings)
    district = ""
    match = _DISTRICT.match(value)
    if match:
        district = normalise_district(match.group(0), settings)
        value = value[match.end():]
    value = _TOWN.sub("", value)
    street = _STREET.search(value)
    if street is None:
        return Address(district, "", None)
    return Address(district, street.group(1), int(street.group(2)))


# --- building a gazetteer --------------------------------------------------------------------


def read_gazetteer(path: str | Path) -> gpd.GeoDataFrame:
    """Read a GeoJSON gazetteer (any named points/polygons, WGS-84) into a GeoDataFrame.

    Raises
    ------
    InputFileError
        When the file is missing or not GeoJSON.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: gazetteer file not found")
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises its own error classes for every kind of bad file
        raise InputFileError(f"{path}: not a readable GeoJSON gazetteer ({exc})") from exc
    if frame.crs is not None and not frame.crs.equals(4326):
        frame = frame.to_crs(4326)
    id_column = "@id" if "@id" in frame else "id" if "id" in frame else None
    ids = frame[id_column].astype(str) if id_column else pd.Series([f"{path.stem}:{i + 1}" for i in range(len(frame))])
    return frame.assign(feature_id=ids.values, source=path.name)


def build_gazetteer(
    features: gpd.GeoDataFrame, settings: CatalogueSettings, source: str = "OpenStreetMap"
) -> Gazetteer:
    """Index named features (points, lines, polygons) by normalised name and by street address.

    Parameters
    ----------
    features
        WGS-84 features with tag columns (``name``, ``name:zh``, ``alt_name``, ``addr:street``,
        ``addr:housenumber``, ``addr:district``…), e.g. ``OsmExtract.features`` or
        :func:`read_gazetteer`. A ``feature_id`` column (else ``element``/``osm_id``) names them.
        Polygons tagged ``boundary=administrative`` whose name ends in 区/县 give every
        feature inside them a district.
    settings
        Normalisation settings.
    source
        Source name used when ``features`` has no ``source`` column.

    Returns
    -------
    Gazetteer
    """
    features = features[features.geometry.notna() & ~features.geometry.is_empty]
    if "feature_id" in features:
        ids = features["feature_id"].astype(str)
    elif "osm_id" in features:
        ids = features["element"].astype(str) + "/" + features["osm_id"].astype(str)
    else:
        ids = pd.Series([str(i) for i in features.index], index=features.index)
    points = features.geometry.representative_point()
    districts = _districts(features, points, settings)
    sources = features["source"].astype(str) if "source" in features else pd.Series(source, index=features.index)
    street = _tag(features, "addr:street").map(normalise_text)
    numbers = _tag(features, "addr:housenumber").map(_number_range)
    rows = []
    for tag in NAME_TAGS:
        values = _tag(features, tag)
        for idx, value in values[values != ""].items():
            for name in value.split(";") if tag == "alt_name" else [value]:
                key = name_key(name, settings)
                if key:
                    rows.append((ids[idx], name.strip(), key, street[idx], *numbers[idx], districts[idx],
                                 points[idx].x, points[idx].y, sources[idx]))
    # features with an address but no name can still place a street address
    unnamed = (street != "") & numbers.map(lambda r: r[0] >= 0) & ~ids.isin({r[0] for r in rows})
    for idx in features.index[unnamed]:
        rows.append((ids[idx], "", "", street[idx], *numbers[idx], districts[idx], points[idx].x, points[idx].y,
                     sources[idx]))
    columns = ["feature_id", "name", "key", "street", "num_lo", "num_hi", "district", "lon", "lat", "source"]
    entries = pd.DataFrame(rows, columns=columns).drop_duplicates(["feature_id", "key"], ignore_index=True)
    area = shapely.MultiPoint(np.c_[points.x, points.y]).convex_hull if len(points) else None
    kept = ids.isin(set(entries["feature_id"]))
    tags = pd.DataFrame(features.loc[kept].drop(columns=features.geometry.name)).set_index(ids[kept].rename(None))
    text = [c for c in tags.columns if pd.api.types.is_string_dtype(tags[c]) or tags[c].dtype == object]
    return Gazetteer(entries, area, tags.loc[:, text])


def merge_gazetteers(gazetteers: Iterable[Gazetteer]) -> Gazetteer:
    """Combine gazetteers (e.g. the city's OSM features and a catalogue's own GeoJSON)."""
    gazetteers = [g for g in gazetteers if len(g)]
    if not gazetteers:
        return Gazetteer(pd.DataFrame(columns=["feature_id", "name", "key", "street", "num_lo", "num_hi", "district",
                                               "lon", "lat", "source"]), None)
    areas = [g.area for g in gazetteers if g.area is not None]
    tags = [g.tags for g in gazetteers if g.tags is not None]
    return Gazetteer(pd.concat([g.entries for g in gazetteers], ignore_index=True),
                     shapely.union_all(areas).convex_hull if areas else None,
                     pd.concat(tags) if tags else None)


def _tag(features: pd.DataFrame, key: str) -> pd.Series:
    if key not in features:
        return pd.Series("", index=features.index)
    return features[key].where(features[key].map(lambda v: isinstance(v, str)), "").astype(str).str.strip()


def _number_range(value: str) -> tuple[int, int]:
    match = _NUMBER.search(unicodedata.normalize("NFKC", value)) if value else None
    if match is None:
        return -1, -1
    lo = int(match.group(1))
    return lo, int(match.group(2)) if match.group(2) else lo


def _districts(features: gpd.GeoDataFrame, points: gpd.GeoSeries, settings: CatalogueSettings) -> pd.Series:
    tagged = _tag(features, "addr:district").map(lambda v: normalise_district(v, settings) if v else "")
    if "boundary" not in features:
        return tagged
    names = _tag(features, "name")
    admin = features[(_tag(features, "boundary") == "administrative") & names.str.contains(r"(?:区|县)$")
                     & features.geom_type.isin(["Polygon", "MultiPolygon"])]
    if admin.empty:
        return tagged
    tree = shapely.STRtree(admin.geometry.values)
    point_idx, poly_idx = tree.query(points.values, predicate="within")
    inside = pd.Series([normalise_district(names[admin.index[j]], settings) for j in poly_idx],
                       index=features.index[point_idx])
    inside = inside[~inside.index.duplicated()]
    return tagged.where(tagged != "", inside.reindex(features.index).fillna(""))


# --- geocoding ---------------------------------------------------------------------------------

GEOCODE_COLUMNS = ["lon", "lat", "confidence", "method", "match_id", "match_name", "reason"]


def geocode(queries: pd.DataFrame, gazetteer: Gazetteer, settings: CatalogueSettings,
            online: Callable[[str], tuple[float, float] | None] | None = None) -> pd.DataFrame:
    """Place catalogue rows by name and address, or say why not.

    Parameters
    ----------
    queries
        ``name``, ``address`` and ``district`` columns (missing values allowed).
    gazetteer
        Places to match (see :func:`build_gazetteer`).
    settings
        Threshold (``min_confidence``) and normalisation settings.
    online
        Optional lookup ``text → (lon, lat)`` in WGS-84 (see :class:`OnlineLookup`), asked
        only for rows the gazetteer cannot place.

    Returns
    -------
    pandas.DataFrame
        Same index as `queries`: :data:`GEOCODE_COLUMNS`. ``lon``/``lat`` are NaN and
        ``reason`` says why when the row could not be placed with enough confidence.
    """
    entries = gazetteer.entries
    keys = entries["key"].tolist()
    by_address: dict[str, pd.DataFrame] = dict(tuple(entries[entries["num_lo"] >= 0].groupby("street")))
    results = []
    for row in queries.itertuples():
        district = normalise_district(row.district, settings) if isinstance(row.district, str) else ""
        result = _geocode_one(row.name, row.address, district, entries, keys, by_address, settings)
        if np.isnan(result[0]) and online is not None:
            result = _online(row.name, row.address, online, result)
        results.append(result)
    return pd.DataFrame(results, columns=GEOCODE_COLUMNS, index=queries.index)


def _geocode_one(name: object, address: object, district: str, entries: pd.DataFrame, keys: list[str],
                 by_address: dict[str, pd.DataFrame], settings: CatalogueSettings) -> tuple:
    threshold = settings.min_confidence
    scored: dict[int, float] = {}
    for key, weight in name_variants(name, settings):
        for _, _, i in process.extract(key, keys, scorer=fuzz.partial_ratio, limit=25, score_cutoff=60):
            score = name_score(key, keys[i], settings) * weight
            if score > scored.get(i, 0.0):
                scored[i] = score
    if district:
        scored = {i: s for i, s in scored.items() if entries.at[i, "district"] in ("", district)}
    addr = parse_address(address, settings)
    at_address = None
    if addr.street and addr.number is not None:  # "临港新城申港大道" is on 申港大道
        street = next((addr.street[i:] for i in range(len(addr.street) - 2) if addr.street[i:] in by_address), None)
        at_address = by_address.get(street or addr.street)
    if at_address is not None:
        at_address = at_address[(at_address["num_lo"] <= addr.number) & (at_address["num_hi"] >= addr.number)]
        if district:
            at_address = at_address[at_address["district"].isin(["", district])]
        if at_address.empty:
            at_address = None
    best = max(scored, key=lambda i: (scored[i], -i)) if scored else None
    best_score = scored.get(best, 0.0) if best is not None else 0.0
    if best is not None and best_score >= threshold:
        hit = entries.loc[best]
        rivals = [i for i, s in scored.items()
                  if s >= best_score - 0.02 and entries.at[i, "feature_id"] != hit.feature_id]
        if rivals:
            far = distance_m(hit.lon, hit.lat, entries.loc[rivals, "lon"], entries.loc[rivals, "lat"])
            if (far > _AMBIGUOUS_M).any():
                other = entries.loc[rivals[int(np.argmax(far))]]
                return _unplaced(f"ambiguous name: '{hit['name']}' and '{other['name']}' are "
                                 f"{far.max() / 1000:.1f} km apart", hit)
        if at_address is not None:
            gap = distance_m(hit.lon, hit.lat, at_address["lon"], at_address["lat"]).min()
            if gap <= _NEAR_M:
                return _placed(hit, min(1.0, best_score + 0.05), "name+address")
            where = at_address.iloc[0]
            return _unplaced(f"name matches '{hit['name']}' but the address matches "
                             f"'{where['name'] or where['feature_id']}' {gap / 1000:.1f} km away", hit)
        if addr.street and hit.street and hit.street != addr.street:
            best_score *= 0.95  # the gazetteer knows another street for it
        if best_score >= threshold:
            return _placed(hit, best_score, "name")
    if at_address is not None:
        spread = distance_m(at_address["lon"].iloc[0], at_address["lat"].iloc[0], at_address["lon"], at_address["lat"])
        if spread.max() <= _NEAR_M:
            named = at_address[at_address["name"] != ""]
            hit = (named if len(named) else at_address).iloc[0]
            return _placed(hit, 0.9, "address")
        return _unplaced(f"address '{address}' matches several places up to {spread.max() / 1000:.1f} km apart", None)
    if best is not None and best_score > 0:
        hit = entries.loc[best]
        return _unplaced(f"unmatched: best candidate '{hit['name']}' has confidence {best_score:.2f} "
                         f"< {threshold:.2f}", hit)
    what = "name or address" if isinstance(address, str) and address.strip() else "name (no address given)"
    return _unplaced(f"unmatched: no gazetteer place resembles the {what}", None)


def _placed(hit: pd.Series, confidence: float, method: str) -> tuple:
    return (float(hit.lon), float(hit.lat), round(float(confidence), 3), method, hit.feature_id, hit["name"], "")


def _unplaced(reason: str, hit: pd.Series | None) -> tuple:
    return (np.nan, np.nan, 0.0, "", hit.feature_id if hit is not None else "",
            hit["name"] if hit is not None else "", reason)


def _online(
    name: object, address: object, lookup: Callable[[str], tuple[float, float] | None], offline: tuple
) -> tuple:
    for text in (address, name):
        if isinstance(text, str) and text.strip():
            found = lookup(text.strip())
            if found is not None:
                return (found[0], found[1], 0.85, "online", "", "", "")
    return offline


class OnlineLookup:
    """Ask an online geocoder (Nominatim or AMap), rate-limited, with answers cached on disk.

    Parameters
    ----------
    config
        Provider, user agent, key variable, delay and cache file.
    fetch
        The request function ``text → (lon, lat) in the provider's datum, or None``; by default
        the provider's web API. The AMap key is read from the environment variable
        ``config.api_key_env``, never from a file.
    """

    def __init__(self, config: OnlineGeocoder, fetch: Callable[[str], tuple[float, float] | None] | None = None):
        self.config = config
        self.fetch = fetch or (self._nominatim if config.provider == "nominatim" else self._amap)
        self.cache_path = Path(config.cache)
        self.cache: dict[str, list[float] | None] = (
            json.loads(self.cache_path.read_text(encoding="utf-8")) if self.cache_path.is_file() else {}
        )
        self._last = 0.0
        self.requests = 0

    def __call__(self, text: str) -> tuple[float, float] | None:
        """Return WGS-84 (lon, lat) for `text`, or None when the provider knows no such place."""
        key = f"{self.config.provider}|{text}"
        if key not in self.cache:
            wait = self.config.min_delay_s - (time.monotonic() - self._last)
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            self.requests += 1
            found = self.fetch(text)
            self.cache[key] = list(found) if found is not None else None
            self.cache_path.write_text(json.dumps(self.cache, ensure_ascii=False), encoding="utf-8")
        value = self.cache[key]
        if value is None:
            return None
        lon, lat = convert(value[0], value[1], "gcj02" if self.config.provider == "amap" else "wgs84", "wgs84")
        return float(lon), float(lat)

    def _nominatim(self, text: str) -> tuple[float, float] | None:
        from geopy.geocoders import Nominatim

        location = Nominatim(user_agent=self.config.user_agent, timeout=10).geocode(text)
        return (location.longitude, location.latitude) if location is not None else None

    def _amap(self, text: str) -> tuple[float, float] | None:
        key = os.environ.get(self.config.api_key_env or "", "")
        if not key:
            raise ConfigError(f"AMap geocoder configured but environment variable {self.config.api_key_env} is empty")
        url = "https://restapi.amap.com/v3/geocode/geo?" + urllib.parse.urlencode({"address": text, "key": key})
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (fixed https URL)
            answer = json.load(response)
        codes = answer.get("geocodes") or []
        if not codes:
            return None
        lon, lat = (float(v) for v in codes[0]["location"].split(","))
        return lon, lat
