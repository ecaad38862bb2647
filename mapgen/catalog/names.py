"""Fold Chinese place names and addresses for matching: name keys, name similarity, the parts of an address."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

from mapgen.config import CatalogueSettings

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


@dataclass(frozen=True)
class Address:
    """The parts of a Chinese street address the gazetteer can match."""

    district: str
    street: str
    number: int | None


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
                stripped = stripped[len(prefix) :].removeprefix("市")
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
                stripped = stripped[len(prefix) :]
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
        value = value[match.end() :]
    value = _TOWN.sub("", value)
    street = _STREET.search(value)
    if street is None:
        return Address(district, "", None)
    return Address(district, street.group(1), int(street.group(2)))
