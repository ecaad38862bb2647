"""The venue category taxonomy: categories with labels, colours, tag rules and words, and facilities."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mapgen.errors import ConfigError
from mapgen.look import NO_CATEGORY_COLOR


@dataclass(frozen=True)
class Category:
    """A venue category with labels, map colour and tag rules, and the words catalogues use for it.

    ``synonyms`` are what a catalogue's category column may say (运动场地, sports ground);
    ``name_words`` the venue kinds in names (体育馆, Bibliothek) that give a row its category
    (:mod:`mapgen.catalog.categories`).
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
class Facility:
    """A kind of facility (basketball court, playground, park…): its words in each language and tag rules."""

    key: str
    zh: str
    en: str
    de: str
    words: str  # further search words (zh and en), e.g. "篮球 basketball"
    part: bool  # inside a named park or sports centre it is one of that venue's facilities
    rules: tuple[tuple[tuple[str, object], ...], ...]

    def matches(self, tags: dict[str, str]) -> bool:
        """Return whether any rule of the facility matches `tags` (each part of a ``;`` list counts)."""
        return any(all(_any_part_matches(tags.get(k), want) for k, want in rule) for rule in self.rules)

    def word(self, language: str) -> str:
        """The facility's name in `language` (``zh``, ``en`` or ``de``; English otherwise)."""
        return {"zh": self.zh, "de": self.de}.get(language, self.en)

    @property
    def search_words(self) -> str:
        """Every word the facility is found by: its names in all languages and its further words."""
        return " ".join(dict.fromkeys(f"{self.zh} {self.en} {self.de} {self.words}".split()))


@dataclass(frozen=True)
class Taxonomy:
    """The ordered category list (the first matching category wins) and the facility words."""

    categories: tuple[Category, ...]
    facilities: tuple[Facility, ...] = ()

    @property
    def tag_keys(self) -> frozenset[str]:
        """OSM keys any rule looks at (what the OSM reader must keep)."""
        return frozenset(k for c in self.categories for rule in c.rules for k, _ in rule) - {"name"}

    def may_match(self, features: pd.DataFrame) -> np.ndarray:
        """Rows of `features` (tag columns) that hold every key of some category's rule: the only ones it may match.

        A rule matches only tags it names with a non-empty value, so the others need not be read one by one.
        """
        present: dict[str, np.ndarray] = {}  # a key's cells set, read once for the many rules naming it

        def holds(key: str) -> np.ndarray:
            if key not in present:
                column = features[key]
                present[key] = (column.notna() & (column != "")).to_numpy()
            return present[key]

        may = np.zeros(len(features), dtype=bool)
        for rule in (rule for c in self.categories for rule in c.rules):
            if all(key in features.columns for key, _ in rule):
                may |= np.logical_and.reduce([holds(key) for key, _ in rule], initial=True)
        return may

    def classify(self, tags: dict[str, str]) -> Category | None:
        """Return the first category matching `tags`, or None."""
        return next((c for c in self.categories if c.matches(tags)), None)

    def facility(self, tags: dict[str, str]) -> Facility | None:
        """Return the first facility kind matching `tags`, or None."""
        return next((f for f in self.facilities if f.matches(tags)), None)

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
        ``mapgen/data/categories.toml`` (:data:`mapgen.config.DEFAULT_CATEGORIES`) or a city's own taxonomy.

    Returns
    -------
    Taxonomy
    """
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
        raw = table["categories"]
        facilities = tuple(
            Facility(
                key=key,
                zh=spec["zh"],
                en=spec["en"],
                de=spec.get("de", spec["en"]),
                words=spec.get("words", ""),
                part=bool(spec.get("part", False)),
                rules=_rules(spec),
            )
            for key, spec in table.get("facilities", {}).items()
        )
        categories = tuple(
            Category(
                key=key,
                zh=spec["zh"],
                en=spec["en"],
                color=spec.get("color", NO_CATEGORY_COLOR),
                rules=_rules(spec),
                synonyms=tuple(str(w) for w in spec.get("synonyms", [])),
                name_words=tuple(str(w) for w in spec.get("name_words", [])),
            )
            for key, spec in raw.items()
        )
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: category taxonomy not found") from exc
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: invalid category taxonomy ({exc!r})") from exc
    tagged: tuple[Category | Facility, ...] = (*categories, *facilities)
    for c in tagged:
        for rule in c.rules:
            for k, v in rule:
                if isinstance(v, str) and v.startswith("~"):
                    try:
                        re.compile(v[1:])
                    except re.error as exc:
                        raise ConfigError(f"{path}: category {c.key}: bad regular expression for {k}: {exc}") from exc
    return Taxonomy(categories, facilities)


def _rules(spec: dict[str, object]) -> tuple[tuple[tuple[str, object], ...], ...]:
    return tuple(tuple((k, v) for k, v in rule.items()) for rule in spec.get("rules", []))  # type: ignore[attr-defined]


def _any_part_matches(value: str | None, want: object) -> bool:
    return any(_value_matches(part.strip(), want) for part in (value or "").split(";"))


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
