"""Opening hours: OSM syntax and the Chinese forms of real venue lists, on the shared data."""

from __future__ import annotations

import json
from datetime import datetime

import osmium
import pytest
from conftest import shared_file

from mapgen.config import Settings
from mapgen.errors import ConfigError
from mapgen.hours import WeeklySchedule, is_open, open_after_school, open_weekend, parse_hours

# 2025-03-10 is a Monday
MON, TUE, SAT = datetime(2025, 3, 10), datetime(2025, 3, 11), datetime(2025, 3, 15)


def _at(day: datetime, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return day.replace(hour=h, minute=m)


def test_osm_syntax_weekdays_and_several_rules():
    s = parse_hours("Mo-Fr 06:15-07:00; Sa 16:30-18:00; Su 06:00-18:00")
    assert isinstance(s, WeeklySchedule)
    assert s.days[0] == ((375, 420),) and s.days[5] == ((990, 1080),) and s.days[6] == ((360, 1080),)
    assert open_after_school(s) is False and open_weekend(s) is True
    assert is_open(s, _at(SAT, "17:00")) is True and is_open(s, _at(SAT, "12:00")) is False


def test_osm_syntax_split_day_and_day_lists():
    s = parse_hours("Tu-Th, Sa, Su 09:00-11:00, 13:00-16:00")
    assert s is not None
    assert s.days[0] == () and s.days[4] == () and s.days[2] == ((540, 660), (780, 960))
    assert is_open(s, _at(TUE, "12:00")) is False and is_open(s, _at(TUE, "13:30")) is True


def test_24_7_off_and_public_holidays():
    always = parse_hours("24/7")
    assert always is not None and all(d == ((0, 1440),) for d in always.days)
    assert open_after_school(always) and open_weekend(always)
    closed = parse_hours("off")
    assert closed is not None and closed.intervals() == [] and is_open(closed, MON) is False
    ph = parse_hours("Tu-Su 09:00-17:00; PH off")
    assert ph is not None and ph.days[0] == () and ph.days[1] == ((540, 1020),)


def test_hours_past_midnight_belong_to_the_next_morning():
    s = parse_hours("Mo-Su 10:00-03:00")
    assert s is not None and s.days[1] == ((0, 180), (600, 1440))
    assert is_open(s, _at(TUE, "02:00")) is True and is_open(s, _at(TUE, "04:00")) is False


def test_chinese_tilde_and_single_digit_hours():
    for text in ("09:00~16:30", "9:00~16:30", "9:00-16:30", "９：００～１６：３０", "9:00—16:30"):
        s = parse_hours(text)
        assert s is not None, text
        assert s.expression == "09:00-16:30" and all(d == ((540, 990),) for d in s.days)


def test_chinese_days_last_entry_note_and_closures():
    s = parse_hours("周二至周日 9:00-17:00（16:00停止入场）")
    assert s is not None
    assert s.expression == "Tu-Su 09:00-17:00" and s.notes == ("16:00停止入场",)
    assert s.days[0] == () and s.days[1] == ((540, 1020),)
    s = parse_hours("9:00-17:00，周一闭馆，节假日闭馆")
    assert s is not None and s.expression == "09:00-17:00; Mo off; PH off"
    assert s.days[0] == () and s.days[6] == ((540, 1020),)
    s = parse_hours("每周二至周日 上午9:00-11:30，下午1:30-5:00")
    assert s is not None and s.days[3] == ((540, 690), (810, 1020))


def test_chinese_all_day_workdays_and_weekend():
    assert parse_hours("全天开放").days[2] == ((0, 1440),)  # type: ignore[union-attr]
    assert parse_hours("00:00~23:59").days[2] == ((0, 1440),)  # type: ignore[union-attr]
    s = parse_hours("工作日 16:00-20:00；周末 9:00-20:00")
    assert s is not None and s.expression == "Mo-Fr 16:00-20:00; Sa,Su 09:00-20:00"
    assert open_after_school(s) is True and open_weekend(s) is True


@pytest.mark.parametrize(
    "text", ["", "~", "  ", "开放", "周一闭馆", "节假日闭馆", "预约参观", "Mo-Fr 9-17 maybe", "25:00-26:00"]
)
def test_unparseable_or_incomplete_text_is_unknown(text):
    assert parse_hours(text) is None
    assert is_open(text, MON) is None and open_after_school(text) is None and open_weekend(text) is None


def test_after_school_window_is_configurable():
    late = "Mo-Fr 09:00-17:30"
    assert open_after_school(late) is False
    assert open_after_school(late, start="15:30", end="17:30") is True
    assert open_after_school("Tu-Su 10:00-18:00") is True  # closed on Monday, open Tu-Fr after school
    assert open_after_school(None) is None
    assert Settings().after_school_start == "16:00" and Settings().after_school_end == "18:00"
    assert Settings(after_school_start="15:00", after_school_end="17:00").after_school_end == "17:00"
    with pytest.raises(ValueError):
        Settings(after_school_start="18:00", after_school_end="16:00")
    with pytest.raises(ValueError):
        Settings(after_school_start="4pm")


def test_bad_after_school_window_in_city_file_is_a_config_error(tmp_path):
    from mapgen.config import load_city

    city = tmp_path / "c.toml"
    city.write_text('osm = "x.osm"\n[settings]\nafter_school_start = "19:00"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="after_school"):
        load_city(city)


def test_schedule_json_form():
    s = parse_hours("Sa 10:00-12:00")
    assert s is not None
    want = {"expression": "Sa 10:00-12:00", "intervals": [[5, 600, 720]], "notes": []}
    assert json.loads(json.dumps(s.to_json())) == want


def test_shanghai_bureau_opening_times_parse():
    rows = json.loads(shared_file("venues", "shanghai-culture-bureau-venues.json").read_text(encoding="utf-8"))["rows"]
    texts = [r["T_TIME"] for r in rows]
    parsed = {t: parse_hours(t) for t in texts}
    failed = [t for t in texts if parsed[t] is None]
    assert len(texts) == 150
    assert failed == ["~"]  # 149 of 150 parse; the one left is an empty range
    # museums closing at 16:00-17:30 are not open 16:00-18:00; parks and late venues are
    assert sum(bool(open_after_school(parsed[t])) for t in texts) == 44
    assert all(open_weekend(parsed[t]) for t in texts if parsed[t] is not None)


def test_osm_opening_hours_in_all_extracts_parse():
    culture = json.loads(shared_file("venues", "shanghai-osm-culture.geojson").read_text(encoding="utf-8"))
    texts = [f["properties"]["opening_hours"] for f in culture["features"] if f["properties"].get("opening_hours")]
    assert len(texts) == 36
    for name in (
        "heidelberg.osm.pbf",
        "monaco.osm.pbf",
        "beijing-haidian.osm",
        "nanjing-xinjiekou.osm",
        "shenzhen-longgang.osm",
    ):
        kinds = osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION
        processor = osmium.FileProcessor(str(shared_file("osm", name)), kinds)
        texts += [o.tags["opening_hours"] for o in processor.with_filter(osmium.filter.KeyFilter("opening_hours"))]
    failed = [t for t in texts if parse_hours(t) is None]
    assert len(texts) == 229 and failed == []
