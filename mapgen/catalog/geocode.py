"""Geocode catalogue rows by name and Chinese address against a gazetteer, offline, or with an online geocoder."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from mapgen.catalog.gazetteer import Gazetteer
from mapgen.catalog.names import name_score, name_variants, normalise_district, parse_address
from mapgen.config import CatalogueSettings, OnlineGeocoder
from mapgen.errors import ConfigError, MissingExtraError
from mapgen.geo import convert, distance_m

_NEAR_M = 300.0  # name and address agree when their places are this close
_AMBIGUOUS_M = 500.0  # equally good matches farther apart than this are ambiguous
#: What :func:`geocode` returns for each row.
GEOCODE_COLUMNS = ["lon", "lat", "confidence", "method", "match_id", "match_name", "reason"]


def geocode(
    queries: pd.DataFrame,
    gazetteer: Gazetteer,
    settings: CatalogueSettings,
    online: Callable[[str], tuple[float, float] | None] | None = None,
) -> pd.DataFrame:
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


def _geocode_one(
    name: object,
    address: object,
    district: str,
    entries: pd.DataFrame,
    keys: list[str],
    by_address: dict[str, pd.DataFrame],
    settings: CatalogueSettings,
) -> tuple:
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
        rivals = [
            i for i, s in scored.items() if s >= best_score - 0.02 and entries.at[i, "feature_id"] != hit.feature_id
        ]
        if rivals:
            far = distance_m(hit.lon, hit.lat, entries.loc[rivals, "lon"], entries.loc[rivals, "lat"])
            if (far > _AMBIGUOUS_M).any():
                other = entries.loc[rivals[int(np.argmax(far))]]
                return _unplaced(
                    f"ambiguous name: '{hit['name']}' and '{other['name']}' are {far.max() / 1000:.1f} km apart", hit
                )
        if at_address is not None:
            gap = distance_m(hit.lon, hit.lat, at_address["lon"], at_address["lat"]).min()
            if gap <= _NEAR_M:
                return _placed(hit, min(1.0, best_score + 0.05), "name+address")
            where = at_address.iloc[0]
            return _unplaced(
                f"name matches '{hit['name']}' but the address matches "
                f"'{where['name'] or where['feature_id']}' {gap / 1000:.1f} km away",
                hit,
            )
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
        return _unplaced(
            f"unmatched: best candidate '{hit['name']}' has confidence {best_score:.2f} < {threshold:.2f}", hit
        )
    what = "name or address" if isinstance(address, str) and address.strip() else "name (no address given)"
    return _unplaced(f"unmatched: no gazetteer place resembles the {what}", None)


def _placed(hit: pd.Series, confidence: float, method: str) -> tuple:
    return (float(hit.lon), float(hit.lat), round(float(confidence), 3), method, hit.feature_id, hit["name"], "")


def _unplaced(reason: str, hit: pd.Series | None) -> tuple:
    return (
        np.nan,
        np.nan,
        0.0,
        "",
        hit.feature_id if hit is not None else "",
        hit["name"] if hit is not None else "",
        reason,
    )


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
        try:
            from geopy.geocoders import Nominatim
        except ImportError as exc:
            raise MissingExtraError("geopy", "online", "online geocoding") from exc

        location = Nominatim(user_agent=self.config.user_agent, timeout=10).geocode(text)
        return (location.longitude, location.latitude) if location is not None else None

    def _amap(self, text: str) -> tuple[float, float] | None:
        key = os.environ.get(self.config.api_key_env or "", "")
        if not key:
            raise ConfigError(f"AMap geocoder configured but environment variable {self.config.api_key_env} is empty")
        url = "https://restapi.amap.com/v3/geocode/geo?" + urllib.parse.urlencode({"address": text, "key": key})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        codes = answer.get("geocodes") or []
        if not codes:
            return None
        lon, lat = (float(v) for v in codes[0]["location"].split(","))
        return lon, lat
