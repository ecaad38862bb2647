"""The site's two languages: Chinese (default) and English, chosen by ``?lang=`` and remembered in a cookie."""

from __future__ import annotations

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
WEEKDAYS = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}

# key: (Chinese, English)
STRINGS: dict[str, tuple[str, str]] = {
    "site": ("学生 15 分钟活动圈", "15-minute activity circles"),
    "search": ("搜索", "Search"),
    "data_edge": (
        "出行圈已到达地图数据的边界，实际可到达的范围可能更大。",
        "The circles run into the edge of the map data: the real reach may be larger.",
    ),
    "on_campus": ("校内设施（不算校外活动）", "On campus (the school's own, not outings)"),
    "search_placeholder": ("搜索场馆：名称、地址、类别，如 图书馆", "Search venues: name, address, category"),
    "schools": ("学校", "Schools"),
    "categories": ("场馆类别", "Venue categories"),
    "category": ("类别", "Category"),
    "all": ("全部", "All"),
    "district": ("区", "District"),
    "free_only": ("仅免费", "Free only"),
    "open": ("开放", "Open"),
    "open_any": ("不限", "Any time"),
    "open_now": ("现在开放", "Open now"),
    "open_after_school": ("放学后开放", "Open after school"),
    "open_weekend": ("周末开放", "Open at weekends"),
    "near_school": ("学校附近", "Near school"),
    "any_school": ("不限学校", "Any school"),
    "mode": ("方式", "Mode"),
    "walk": ("步行", "Walk"),
    "bike": ("骑行", "Bike"),
    "within": ("分钟以内", "minutes at most"),
    "minutes": ("分钟", "min"),
    "apply": ("筛选", "Filter"),
    "filters": ("筛选条件", "Filters"),
    "filters_active": ("已选 {n} 项", "{n} chosen"),
    "results": ("个结果", "results"),
    "no_results": ("没有找到符合条件的场馆。", "No venue matches."),
    "page": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "hours": ("开放时间", "Opening hours"),
    "hours_unread": ("（无法自动识别）", "(could not be read automatically)"),
    "fee": ("收费", "Fee"),
    "free": ("免费", "Free"),
    "paid": ("收费", "Paid"),
    "address": ("地址", "Address"),
    "source": ("来源", "Source"),
    "reached_by": ("可到达的学校", "Schools that reach it"),
    "not_reached": ("没有学校在时限内到达这里。", "No school reaches it within the limit."),
    "school": ("学校", "School"),
    "venues_within": ("{minutes} 分钟可达的场馆", "Venues within {minutes} minutes"),
    "static_map": ("静态地图", "Static map"),
    "pdf": ("PDF 活动单", "PDF outing sheet"),
    "closed": ("休息", "closed"),
    "not_found": ("页面不存在", "Page not found"),
    "bad_request": ("请求参数有误", "Bad request"),
    "server_error": ("服务器出错了", "Server error"),
    "home": ("首页", "Home"),
    "venue_count": ("个场馆", "venues"),
    "map_note_tiles": ("底图需要联网；标记与范围离线也可显示。", "Base tiles need internet; markers draw offline"),
    "map_note": (
        "底图瓦片需要联网；离线时仍显示数据中的街道、水系和绿地，以及标记与范围。",
        "Base tiles need internet; offline the streets, water and parks of the data still show, with the markers",
    ),
    "not_found_message": (
        "没有这个页面，或者这个场馆、学校不在本站的数据里。",
        "No such page, or this venue or school is not in this site's data.",
    ),
    "bad_request_message": ("请求参数有误。", "A parameter of the request is not valid."),
    "server_error_message": ("服务器没能回答这个请求。", "the server could not answer this request"),
    "method_not_allowed": ("不支持这种请求方式", "Method not allowed"),
    "method_not_allowed_message": ("这个地址只支持浏览（GET）。", "This address only answers GET requests."),
    "error": ("出错了", "Error"),
    "error_message": ("请求没有成功。", "The request did not succeed."),
    "schools_found": ("找到的学校", "Schools found"),
    "school_venues_link": ("查看学校页面", "School page"),
    "unknown_hours": ("{n} 个场馆开放时间未知，未计入", "{n} with unknown hours are not counted"),
    "unknown_free": ("{n} 个场馆是否收费未知，未计入", "{n} with unknown fees are not counted"),
    "ignored_minutes": (
        "“分钟以内”只在选择学校后生效，现在没有使用。",
        "“minutes at most” applies only with a school chosen; it is not used now.",
    ),
    "sorted_by_time": ("按{mode}时间排序", "sorted by {mode} time"),
    "without_district": ("{n} 个场馆没有区的信息", "{n} venues have no district"),
    "phone": ("电话", "Phone"),
    "website": ("网站", "Website"),
    "safety": ("安全提示", "Safety note"),
    "results_map": ("结果地图", "Map of the results"),
    "map_shows": (
        "地图显示本页的 {n} 个结果，编号同列表。",
        "The map shows this page's {n} results, numbered as in the list.",
    ),
}
_ERROR_KEYS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}


def choose_language(asked: str | None, remembered: str | None) -> str:
    """Return the page language: `asked` (``?lang=``) if it is one, else `remembered` (the cookie), else Chinese.

    Parameters
    ----------
    asked
        The ``lang`` query parameter, if any.
    remembered
        The language cookie, if any.
    """
    for lang in (asked, remembered):
        if lang in LANGUAGES:
            return lang
    return DEFAULT_LANGUAGE


def translate(key: str, lang: str, **values: object) -> str:
    """Return the text of `key` in `lang` (``zh`` or ``en``), with ``{name}`` fields filled from `values`.

    Parameters
    ----------
    key
        A key of :data:`STRINGS`.
    lang
        ``zh`` or ``en``.
    **values
        Values for the text's ``{fields}``.
    """
    zh, en = STRINGS[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def clock(minute: int) -> str:
    """Return ``HH:MM`` for minutes after midnight (1440 is ``24:00``)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def error_key(code: int) -> str:
    """Return the :data:`STRINGS` key of an HTTP error's title (``<key>_message`` is its explanation)."""
    return _ERROR_KEYS.get(code, "server_error" if code >= 500 else "error")
