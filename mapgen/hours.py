"""Parse opening hours (OSM ``opening_hours`` syntax and Chinese free text) into weekly schedules."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from opening_hours import OpeningHours, ParserError, State  # type: ignore[attr-defined]

#: The week a schedule is read from (Monday). Expressions with seasons or dates
#: (``Apr-Oct``, ``2025 Dec 24``) are taken as they are in this ordinary school week.
REFERENCE_WEEK = date(2025, 3, 10)
WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_DAY_MINUTES = 24 * 60

Interval = tuple[int, int]


@dataclass(frozen=True)
class WeeklySchedule:
    """Opening intervals of one week, read from an opening-hours text.

    Attributes
    ----------
    days
        Seven tuples (index 0 = Monday … 6 = Sunday) of ``(open_minute, close_minute)``
        intervals, minutes after midnight, ``close_minute`` up to 1440.
    expression
        The OSM ``opening_hours`` expression the schedule was evaluated from
        (the text itself, or its translation from Chinese).
    notes
        Remarks taken out of the text, e.g. ``16:00停止入场`` (last entry).
    """

    days: tuple[tuple[Interval, ...], ...]
    expression: str
    notes: tuple[str, ...] = field(default=())

    def intervals(self) -> list[tuple[int, int, int]]:
        """Return every opening as ``(weekday, open_minute, close_minute)``, Monday = 0."""
        return [(day, start, end) for day, spans in enumerate(self.days) for start, end in spans]

    def to_json(self) -> dict[str, object]:
        """Return a JSON-serialisable form: expression, intervals and notes."""
        return {
            "expression": self.expression,
            "intervals": [list(iv) for iv in self.intervals()],
            "notes": list(self.notes),
        }

    def open_throughout(self, weekday: int, start: int, end: int) -> bool:
        """Return whether the venue is open for the whole window ``start``–``end`` (minutes) of `weekday`."""
        return any(a <= start and end <= b for a, b in self.days[weekday])


def parse_hours(text: str) -> WeeklySchedule | None:
    """Read an opening-hours text into a weekly schedule.

    Accepts the OSM ``opening_hours`` syntax (``Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00``,
    ``24/7``, ``off``, ``PH off``; evaluated with the `opening-hours-py` library) and the
    Chinese forms of real venue lists: ``09:00~16:30``, ``9:00-17:00``,
    ``周二至周日 9:00-17:00（16:00停止入场）``, ``全天开放``, ``周一闭馆``, ``节假日闭馆``,
    full-width digits and punctuation. Public holidays (``PH``) are not in the
    weekly schedule (no holiday calendar is assumed).

    Parameters
    ----------
    text
        The opening-hours text as found in the data.

    Returns
    -------
    WeeklySchedule or None
        None when the text is empty or cannot be read with confidence; the caller
        keeps the text verbatim and flags it.
    """
    return _parse(text) if isinstance(text, str) else None


def is_open(hours: str | WeeklySchedule | None, when: datetime) -> bool | None:
    """Return whether a venue is open at `when` (local time of the venue).

    Parameters
    ----------
    hours
        Opening-hours text, a parsed schedule, or None.
    when
        The moment asked about; a time-zone-aware value is read as its wall-clock time.

    Returns
    -------
    bool or None
        None when the hours are unknown or unparseable, or the expression says ``unknown``.
    """
    schedule = _schedule(hours)
    if schedule is None:
        return None
    state, _comment = _evaluator(schedule.expression).state(when.replace(tzinfo=None))
    return None if state == State.UNKNOWN else state == State.OPEN


def open_after_school(hours: str | WeeklySchedule | None, start: str = "16:00", end: str = "18:00") -> bool | None:
    """Return whether a venue is open after school: the whole window on at least one weekday (Mo–Fr).

    Parameters
    ----------
    hours
        Opening-hours text, a parsed schedule, or None.
    start, end
        The after-school window, ``HH:MM`` (``Settings.after_school_start`` / ``after_school_end``).

    Returns
    -------
    bool or None
        None when the hours are unknown or unparseable.
    """
    schedule = _schedule(hours)
    if schedule is None:
        return None
    window = minutes_of_day(start), minutes_of_day(end)
    return any(schedule.open_throughout(day, *window) for day in range(5))


def open_weekend(hours: str | WeeklySchedule | None) -> bool | None:
    """Return whether a venue is open at some time on Saturday or Sunday (None when unknown)."""
    schedule = _schedule(hours)
    if schedule is None:
        return None
    return bool(schedule.days[5] or schedule.days[6])


def minutes_of_day(hhmm: str) -> int:
    """Return the minutes after midnight of an ``HH:MM`` time (``24:00`` is 1440)."""
    match = re.fullmatch(r"([01]?\d|2[0-4]):([0-5]\d)", hhmm.strip())
    if match is None or (match[1] == "24" and match[2] != "00"):
        raise ValueError(f"not a time of day HH:MM: {hhmm!r}")
    return int(match[1]) * 60 + int(match[2])


def _schedule(hours: str | WeeklySchedule | None) -> WeeklySchedule | None:
    return hours if isinstance(hours, WeeklySchedule) else parse_hours(hours) if isinstance(hours, str) else None


@lru_cache(maxsize=4096)
def _evaluator(expression: str) -> OpeningHours:
    return OpeningHours(expression)


@lru_cache(maxsize=65536)
def _parse(text: str) -> WeeklySchedule | None:
    cleaned = _clean(text)
    if not cleaned:
        return None
    notes: tuple[str, ...] = ()
    expression = str(_evaluator(cleaned)) if _valid(cleaned) and not _CJK.search(cleaned) else None
    if expression is None:
        translated = _from_free_text(cleaned)
        if translated is None:
            return None
        expression, notes = translated
        if not _valid(expression):
            return None
    return WeeklySchedule(days=_week(expression), expression=expression, notes=notes)


def _valid(expression: str) -> bool:
    try:
        _evaluator(expression)
    except (ParserError, SyntaxError, ValueError):
        return False
    return True


def _week(expression: str) -> tuple[tuple[Interval, ...], ...]:
    monday = datetime.combine(REFERENCE_WEEK, datetime.min.time())
    days: list[list[Interval]] = [[] for _ in WEEKDAYS]
    for start, end, state, _comment in _evaluator(expression).intervals(monday, monday + timedelta(days=7)):
        if state != State.OPEN:
            continue
        while start < end:  # split at midnight
            day_end = min(end, datetime.combine(start.date() + timedelta(days=1), datetime.min.time()))
            index = (start.date() - REFERENCE_WEEK).days
            a = start.hour * 60 + start.minute
            b = a + int((day_end - start).total_seconds() // 60)
            if days[index] and days[index][-1][1] == a:
                days[index][-1] = (days[index][-1][0], b)
            else:
                days[index].append((a, b))
            start = day_end
    return tuple(tuple(d) for d in days)


# --- Chinese (and loose) free text → OSM expression -------------------------------------

_CJK = re.compile(r"[\u3000-\u9fff]")
_DAY_LIST_GAP = re.compile(r"(?<=\b(?:Mo|Tu|We|Th|Fr|Sa|Su|PH)),\s+(?=(?:Mo|Tu|We|Th|Fr|Sa|Su|PH)\b)")
_DASH = r"(?:-|~|至|到|—|–)"
_DAYNUM = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "七": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_DAY = r"(?:周|星期|礼拜)([一二三四五六日天七1-7])"
_CLOCK = r"(上午|早上|中午|下午|晚上)?\s*(\d{1,2})(?::(\d{2})|点(?:(\d{1,2})分?|(半))?)"
_TOKENS = re.compile(
    rf"(?P<note>\(([^()]*)\)|【[^】]*】|\[[^\]]*\])"
    rf"|(?P<lastentry>(?:\d{{1,2}}:\d{{2}})\s*(?:后|以后)?\s*(?:停止|结束|截止)(?:入场|入馆|入园|售票|检票|进入|预约)[^,;]*)"
    rf"|(?P<allday>全天(?:候)?(?:开放|营业)?|24\s*小时(?:开放|营业)?|全年开放|24/7)"
    rf"|(?P<everyday>每天|每日|天天|全年|全周)"
    rf"|(?P<workday>工作日)"
    rf"|(?P<weekend>周末|双休日)"
    rf"|(?P<holiday>(?:法定)?(?:节假日|节日|假日|国定假日)(?:期间)?)"
    rf"|(?P<dayrange>{_DAY}\s*{_DASH}\s*(?:周|星期|礼拜)?([一二三四五六日天七1-7]))"
    rf"|(?P<day>{_DAY})"
    rf"|(?P<times>{_CLOCK}\s*{_DASH}\s*{_CLOCK})"
    rf"|(?P<closed>闭馆|休馆|闭园|休园|关闭|不开放|停止开放|不对外开放|休息|停业|关门)"
    rf"|(?P<filler>开放时间|营业时间|参观时间|时间|开放|营业|照常|每|以及|及|和|[,;、:。\s/])"
)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    for wave in ("〜", "～", "∼", "〰"):
        text = text.replace(wave, "~")
    text = text.replace("：", ":").replace("，", ",").replace("；", ";")
    # "Tu-Th, Sa 09:00-12:00" is one day list (the library reads ", " as a new rule there)
    text = _DAY_LIST_GAP.sub(",", text)
    return re.sub(r"\s+", " ", text).strip()


def _clock(prefix: str | None, hour: str, minute: str | None, minute_dian: str | None, half: str | None) -> int:
    h = int(hour)
    m = int(minute or minute_dian or (30 if half else 0))
    if prefix in ("下午", "晚上") and h < 12:
        h += 12
    return h * 60 + m


def _fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _days(first: int, last: int) -> str:
    return WEEKDAYS[first] if first == last else f"{WEEKDAYS[first]}-{WEEKDAYS[last]}"


@dataclass
class _Rule:
    days: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    off: bool = False
    holiday: bool = False
    open_word: bool = False

    @property
    def empty(self) -> bool:
        return not (self.days or self.times or self.off or self.holiday)

    def osm(self) -> str | None:
        selector = "PH" if self.holiday else ",".join(self.days)
        if self.off:
            return f"{selector} off".strip()
        if not self.times:
            return None
        return f"{selector} {','.join(self.times)}".strip()


def _from_free_text(text: str) -> tuple[str, tuple[str, ...]] | None:
    """Translate free text into an OSM expression; None unless every character is understood."""
    rules: list[_Rule] = [_Rule()]
    notes: list[str] = []
    pos = 0
    for match in _TOKENS.finditer(text):
        if match.start() != pos:
            return None  # something we do not understand: do not guess
        pos = match.end()
        kind = match.lastgroup
        rule = rules[-1]
        if kind in ("note", "lastentry"):
            notes.append(match.group(0).strip("()【】[] "))
        elif kind in ("everyday", "workday", "weekend", "dayrange", "day"):
            if rule.times or rule.off or rule.holiday:
                rules.append(rule := _Rule())
            rule.days.append(_day_selector(kind, match))
        elif kind == "holiday":
            if not rule.empty:
                rules.append(rule := _Rule())
            rule.holiday = True
        elif kind == "times":
            g = match.groups()
            i = match.re.groupindex["times"]
            start = _clock(*g[i : i + 5])
            end_prefix = g[i + 5] or (g[i] if g[i] in ("下午", "晚上") else None)  # 下午1:30-5:00
            end = _clock(end_prefix, *g[i + 6 : i + 10])
            if start >= _DAY_MINUTES or end > _DAY_MINUTES:
                return None
            rule.times.append(f"{_fmt(start)}-{_fmt(_DAY_MINUTES if end == _DAY_MINUTES - 1 else end)}")
        elif kind == "allday":
            rule.times.append("00:00-24:00")
        elif kind == "closed":
            rule.off = True
        elif kind == "filler" and match.group(0) in ("开放", "营业", "照常"):
            rule.open_word = True
    if pos != len(text):
        return None
    parts: list[tuple[int, str]] = []
    for rule in rules:
        if rule.empty:
            continue
        osm = rule.osm()
        if osm is None:
            if rule.holiday and rule.open_word:
                continue  # "节假日照常开放": holidays like other days
            return None  # days without times: hours unknown
        # OSM rules override earlier ones: every-day times first, day-specific next, closures last
        parts.append((2 if rule.off else 1 if (rule.days or rule.holiday) else 0, osm))
    if not any(rank < 2 for rank, _ in parts):
        return None  # only closures ("周一闭馆"): the opening times are unknown
    return "; ".join(osm for _, osm in sorted(parts, key=lambda p: p[0])), tuple(notes)


def _day_selector(kind: str, match: re.Match[str]) -> str:
    if kind == "everyday":
        return "Mo-Su"
    if kind == "workday":
        return "Mo-Fr"
    if kind == "weekend":
        return "Sa,Su"
    if kind == "dayrange":
        i = match.re.groupindex["dayrange"]
        return _days(_DAYNUM[match.group(i + 1)], _DAYNUM[match.group(i + 2)])
    i = match.re.groupindex["day"]
    day = _DAYNUM[match.group(i + 1)]
    return _days(day, day)
