"""Venue categories (the taxonomy) and venues taken from OSM features."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from mapgen.config import Settings
from mapgen.errors import ConfigError
from mapgen.hours import open_after_school, open_weekend, parse_hours

VENUE_COLUMNS = [
    "venue_id", "name", "name_en", "category", "category_zh", "category_en", "opening_hours",
    "fee", "access", "source", "osm_id",
    "address", "district", "phone", "safety", "website",
    "hours_parsed", "open_after_school", "open_weekend", "location_method", "location_confidence", "sources",
    "category_source", "category_confidence",
]
_CLOSED = frozenset({"private", "no"})


@dataclass(frozen=True)
class Category:
    """A venue category with labels, map colour and tag rules, and the words catalogues use for it.

    ``synonyms`` are what a catalogue's category column may say (运动场地, sports ground);
    ``name_words`` the venue kinds in names (体育馆, Bibliothek) that give a row its category
    (:mod:`mapgen.classify`).
    """

    key: str
    zh: str
    en: str
    color: str
    rules: tuple[tuple[tuple[str, object], ...], ...]
    synonyms: tuple[str, ...] = ()
    name_words: tuple[str, ...] = ()

    def matches(self, tags: dict[str, str]) -> bool:
        """Return whether any rule of the category matches `tags`."""
        return any(all(_value_matches(tags.get(k), want) for k, want in rule) for rule in self.rules)


@dataclass(frozen=True)
class Taxonomy:
    """The ordered category list: the first matching category wins."""

    categories: tuple[Category, ...]

    @property
    def tag_keys(self) -> frozenset[str]:
        """OSM keys any rule looks at (what the OSM reader must keep)."""
        return frozenset(k for c in self.categories for rule in c.rules for k, _ in rule) - {"name"}

    def classify(self, tags: dict[str, str]) -> Category | None:
        """Return the first category matching `tags`, or None."""
        return next((c for c in self.categories if c.matches(tags)), None)

    def __getitem__(self, key: str) -> Category:
        for c in self.categories:
            if c.key == key:
                return c
        raise KeyError(key)


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read the category taxonomy TOML.

    Parameters
    ----------
    path
        ``data/venues/categories.toml`` or a city's own taxonomy.

    Returns
    -------
    Taxonomy
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))["categories"]
        categories = tuple(
            Category(
                key=key, zh=spec["zh"], en=spec["en"], color=spec.get("color", "#555555"),
                rules=tuple(tuple((k, v) for k, v in rule.items()) for rule in spec.get("rules", [])),
                synonyms=tuple(str(w) for w in spec.get("synonyms", [])),
                name_words=tuple(str(w) for w in spec.get("name_words", [])),
            )
            for key, spec in raw.items()
        )
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: category taxonomy not found") from exc
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: invalid category taxonomy ({exc!r})") from exc
    for c in categories:
        for rule in c.rules:
            for k, v in rule:
                if isinstance(v, str) and v.startswith("~"):
                    try:
                        re.compile(v[1:])
                    except re.error as exc:
                        raise ConfigError(f"{path}: category {c.key}: bad regular expression for {k}: {exc}") from exc
    return Taxonomy(categories)


def _value_matches(value: str | None, want: object) -> bool:
    if value is None or value == "":
        return False
    if want == "*":
        return True
    if isinstance(want, list):
        return value in want
    if isinstance(want, str) and want.startswith("~"):
        return re.search(want[1:], value) is not None
    return value == want


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
    return pd.DataFrame({
        "hours_parsed": [r[0] for r in rows],
        "open_after_school": pd.array([r[1] for r in rows], dtype="boolean"),
        "open_weekend": pd.array([r[2] for r in rows], dtype="boolean"),
    }, index=opening_hours.index)


def venues_from_osm(
    features: gpd.GeoDataFrame, taxonomy: Taxonomy, settings: Settings | None = None
) -> gpd.GeoDataFrame:
    """Classify OSM features into venues.

    Parameters
    ----------
    features
        Tagged OSM features (``element``, ``osm_id``, tag columns, geometry) in WGS-84.
    taxonomy
        The category taxonomy.
    settings
        The after-school window of the hours flags (default 16:00–18:00).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per venue: :data:`VENUE_COLUMNS`, ``geometry`` (a point on the
        venue) and ``footprint`` (its full OSM geometry, used to find entrances).
    """
    rows = []
    for rec in features.to_dict("records"):
        tags = {k: v for k, v in rec.items() if isinstance(v, str) and k not in ("element",)}
        if tags.get("access") in _CLOSED:
            continue
        category = taxonomy.classify(tags)
        if category is None:
            continue
        element = str(rec["element"])
        rows.append({
            "venue_id": f"osm-{element[0]}{rec['osm_id']}",
            "name": _display_name(tags, category),
            "name_en": tags.get("name:en", ""),
            "category": category.key,
            "category_zh": category.zh,
            "category_en": category.en,
            "opening_hours": tags.get("opening_hours", ""),
            "fee": tags.get("fee", ""),
            "access": tags.get("access", ""),
            "source": "OpenStreetMap",
            "osm_id": f"{element}/{rec['osm_id']}",
            "address": " ".join(tags[k] for k in ("addr:street", "addr:housenumber") if tags.get(k)),
            "district": tags.get("addr:district", ""),
            "phone": tags.get("phone") or tags.get("contact:phone", ""),
            "safety": "",
            "website": tags.get("website") or tags.get("contact:website", ""),
            "location_method": "osm",
            "location_confidence": 1.0,
            "sources": f"OpenStreetMap {element}/{rec['osm_id']}",
            "category_source": "osm",
            "category_confidence": 1.0,
            "footprint": rec["geometry"],
        })
    frame = pd.DataFrame(rows, columns=[*VENUE_COLUMNS, "footprint"])
    flags = hours_flags(frame["opening_hours"], settings or Settings())
    frame[flags.columns] = flags
    footprint = gpd.GeoSeries(frame["footprint"], crs=features.crs)
    points = footprint.representative_point() if len(frame) else footprint
    return gpd.GeoDataFrame(frame.assign(footprint=footprint), geometry=points, crs=features.crs)


def _display_name(tags: dict[str, str], category: Category) -> str:
    for key in ("name", "name:zh", "name:en", "official_name"):
        if tags.get(key):
            return tags[key].strip()
    what = tags.get("sport") or tags.get("leisure") or tags.get("amenity") or tags.get("tourism") or ""
    return f"{category.zh}（{what}）" if what else category.zh
