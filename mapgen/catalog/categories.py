"""A catalogue row's venue category: from its category word, the kind word in its name, or its matched place's tags."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd
from rapidfuzz import fuzz, process

from mapgen.catalog.checks import Reject
from mapgen.catalog.gazetteer import Gazetteer
from mapgen.catalog.names import BRACKETED
from mapgen.config import CatalogueConfig, CatalogueSettings
from mapgen.contract import ReviewLog
from mapgen.errors import InputFileError
from mapgen.taxonomy import Taxonomy

#: Confidence of a category read from a name: the kind word ends the name (上海博物馆); it is followed
#: only by a branch or noise word (…图书馆分馆, …公园景区); it stands inside the name (复兴公园•INS乐园).
NAME_AT_END, NAME_BEFORE_BRANCH, NAME_INSIDE = 0.9, 0.85, 0.7
#: Confidence of a category from the matched place's tags; lower when the name names another category.
TAGS, TAGS_AGAINST_NAME = 0.95, 0.8
CLOSEST_MIN = 40  # rapidfuzz similarity below which no category word is named as the closest
_SPACE = re.compile(r"[\s·•・.,，、;；:：'\"“”‘’!！?？/\\|_~+*&＆#＃@()\[\]【】<>《》「」『』-]+")
_LATIN = re.compile(r"[a-zà-ÿ]")


@dataclass(frozen=True)
class Guess:
    """A category and why: ``source`` is ``column``, ``setting``, ``tags``, ``tags+name`` or ``name``."""

    key: str
    source: str
    confidence: float
    detail: str = ""

    @property
    def reason(self) -> str:
        """``category_source`` as written to the output: the source and what it rests on (``name: 博物馆``)."""
        return f"{self.source}: {self.detail}" if self.detail else self.source


def fold(text: object) -> str:
    """Fold `text` for word comparison: NFKC, case-folded, punctuation and runs of spaces made one space."""
    if not isinstance(text, str):
        return ""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


class CategoryWords:
    """The words of a taxonomy: labels and synonyms for category columns, kind words for names.

    Parameters
    ----------
    taxonomy
        Categories with ``zh``/``en`` labels, ``synonyms`` and ``name_words``.
    settings
        Noise endings (景区) and branch words (分馆) that may follow a kind word at the end of a name.
    """

    def __init__(self, taxonomy: Taxonomy, settings: CatalogueSettings) -> None:
        self.taxonomy = taxonomy
        self.settings = settings
        self.words: dict[str, str] = {}
        for c in taxonomy.categories:
            for word in (c.key, c.zh, c.en, *c.synonyms, *c.name_words):
                self.words.setdefault(fold(word), c.key)
        self.kind_words = sorted(
            {(fold(w), c.key) for c in taxonomy.categories for w in c.name_words}, key=lambda wk: -len(wk[0])
        )
        self._patterns = [
            (re.compile(re.escape(w) + (r"(?![a-zà-ÿ])" if _LATIN.search(w) else "")), w, k) for w, k in self.kind_words
        ]
        self._tails = sorted(
            {fold(w).replace(" ", "") for w in (*settings.noise_suffixes, *settings.branch_words)},
            key=len,
            reverse=True,
        )

    def lookup(self, value: str) -> str | None:
        """Category key of a category-column value: a key, label, synonym or kind word; else None.

        A value that is part of exactly one category's Chinese or English label counts too
        (``博物馆`` of ``博物馆与美术馆``).
        """
        folded = fold(value)
        if folded in self.words:
            return self.words[folded]
        hits = {c.key for c in self.taxonomy.categories if folded and (folded in fold(c.zh) or folded in fold(c.en))}
        return hits.pop() if len(hits) == 1 else None

    def closest(self, text: str) -> str:
        """Name the known category word closest to `text` (rapidfuzz), for a review reason."""
        folded = fold(text)
        found = process.extractOne(folded, list(self.words), scorer=fuzz.WRatio) if folded else None
        if found is None:
            return "no category word resembles it"
        word, score, _ = found
        if score < CLOSEST_MIN:
            return "no known category word resembles it"
        c = self.taxonomy[self.words[word]]
        return f"closest category: {c.key} ({c.zh}) via '{word}', similarity {score:.0f}"

    def from_name(self, name: str) -> Guess | None:
        """Category named by the venue-kind word of `name`, or None.

        The name outside brackets and each bracketed part (``上海科技馆分馆（上海自然博物馆）``) are
        read; in each, the kind word ending it wins (the longest when several do: 自然博物馆 over
        博物馆), then one followed only by branch or noise words, then one inside it.
        """
        text = unicodedata.normalize("NFKC", name)
        parts = [BRACKETED.sub(" ", text), *(p for p in BRACKETED.findall(text) if not p.startswith(("原", "旧")))]
        best: tuple[float, int, int] | None = None
        guess = None
        for part in parts:
            folded = fold(part)
            for pattern, word, key in self._patterns:
                for match in pattern.finditer(folded):
                    tail = folded[match.end() :].replace(" ", "")
                    confidence = (
                        NAME_AT_END if not tail else NAME_BEFORE_BRANCH if not self._strip_tail(tail) else NAME_INSIDE
                    )
                    rank = (confidence, match.end(), len(word))
                    if best is None or rank > best:
                        best, guess = rank, Guess(key, "name", confidence, word)
        return guess

    def _strip_tail(self, tail: str) -> str:
        """What is left of `tail` after leading branch and noise words (分馆, 景区) are removed."""
        while tail:
            word = next((w for w in self._tails if tail.startswith(w)), None)
            if word is None:
                return tail
            tail = tail[len(word) :]
        return tail

    def from_tags(self, tags: dict[str, str], named: Guess | None, feature_id: str) -> Guess | None:
        """Category of a row placed on a gazetteer feature, from the feature's tags and the row's name.

        Among the categories whose tag rules match, the one the name names wins (a museum in a listed
        heritage building stays a museum). When the tags say another category than the name, the
        name's kind word wins if it ends the name, the tags win otherwise, both with less confidence.
        None when no rule matches the tags.
        """
        if named is not None and tags and self.taxonomy[named.key].matches(tags):
            return Guess(named.key, "tags+name", max(TAGS, named.confidence), f"{feature_id}, {named.detail}")
        found = self.taxonomy.classify(tags) if tags else None
        if found is None:
            return None
        if named is None:
            return Guess(found.key, "tags", TAGS, feature_id)
        if named.confidence >= NAME_BEFORE_BRANCH:
            return Guess(named.key, "name", TAGS_AGAINST_NAME, f"{named.detail} (tags of {feature_id}: {found.key})")
        return Guess(found.key, "tags", TAGS_AGAINST_NAME, f"{feature_id} (the name says {named.key})")


def row_categories(
    data: pd.DataFrame, columns: dict[str, str], spec: CatalogueConfig, words: CategoryWords, reject: Reject
) -> pd.DataFrame:
    """Category of every row from its category column, else the catalogue's setting, else its name.

    Unknown category words go to review naming the closest known one; rows with neither a word
    nor a kind word in the name are left open (``category`` None) for :func:`place_categories`.

    Returns
    -------
    pandas.DataFrame
        ``category``, ``category_source``, ``category_confidence`` per row.
    """
    given = words.lookup(spec.category) if spec.category is not None else None
    if spec.category is not None and given is None:
        raise InputFileError(
            f"{spec.file}: unknown category {spec.category!r} "
            f"(one of {', '.join(c.key for c in words.taxonomy.categories)}; "
            f"{words.closest(spec.category)})"
        )
    default = Guess(given, "setting", 1.0) if given else None
    guesses: list[Guess | None] = []
    for value, name in zip(data["category"], data["name"], strict=True):
        if value:
            key = words.lookup(value)
            guesses.append(Guess(key, "column", 1.0, value) if key else None)
        else:
            guesses.append(default or words.from_name(name))
    column = columns.get("category", "category")
    unknown = data["category"].ne("") & pd.Series([g is None for g in guesses], index=data.index)
    values = data.loc[unknown, "category"]
    reject(
        unknown,
        column,
        ("unknown category " + values.map(repr) + " (" + values.map(words.closest) + ")").reindex(
            data.index, fill_value=""
        ),
    )
    return _guess_frame(guesses, data.index)


def category_counts(venues: pd.DataFrame, review: ReviewLog) -> dict[str, int]:
    """Venues per category source (``categories_from_tags`` counts ``tags`` and ``tags+name``) and rows to review."""
    source = venues["category_source"].str.split(":").str[0].replace({"tags+name": "tags"})
    counts = {f"categories_from_{k}": int((source == k).sum()) for k in ("column", "setting", "tags", "name")}
    counts["categories_to_review"] = sum(
        r.reason.startswith(("no category", "unknown category", "category unsure")) for r in review
    )
    return counts


def _guess_frame(guesses: list[Guess | None], index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "category": [g.key if g else None for g in guesses],
            "category_source": [g.reason if g else "" for g in guesses],
            "category_confidence": [g.confidence if g else 0.0 for g in guesses],
        },
        index=index,
    )


def place_categories(
    category: pd.DataFrame,
    data: pd.DataFrame,
    located: pd.DataFrame,
    gazetteer: Gazetteer | None,
    words: CategoryWords,
    min_confidence: float,
    columns: dict[str, str],
    reject: Reject,
) -> pd.DataFrame:
    """Rows without a category word take their matched place's category (its tags), else keep the name's.

    Rows still without a category, or below `min_confidence`, go to review with the closest category.
    """
    open_rows = category["category_source"].map(lambda s: s.split(":")[0] in ("", "name"))
    if gazetteer is not None and len(gazetteer):
        for i in data.index[open_rows & located["match_id"].ne("")]:
            match = located.at[i, "match_id"]
            found = words.from_tags(gazetteer.feature_tags(match), words.from_name(data.at[i, "name"]), match)
            if found is not None:
                category.loc[i] = [found.key, found.reason, found.confidence]
    missing = category["category"].isna()
    where = columns.get("category", columns["name"])
    reject(
        missing,
        where,
        "no category: no category column, and neither the name nor a matched place "
        "says what it is ("
        + data.loc[missing, "name"].map(words.closest).reindex(data.index, fill_value="")
        + "; add a category column or give --category)",
    )
    weak = ~missing & (category["category_confidence"] < min_confidence)
    reject(
        weak,
        where,
        "category unsure: "
        + category["category"].astype(str)
        + " from "
        + category["category_source"]
        + " has confidence "
        + category["category_confidence"].map("{:.2f}".format)
        + f" < {min_confidence:.2f}",
    )
    return category
