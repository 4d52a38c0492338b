"""DATE mentions resolved to calendar dates, relative to a reference time (the article's ``ingested_at``).

Choices, in the order they are tried (``None`` when nothing applies):
- a weekday alone ("Tuesday", "on Tuesday") is that weekday in the reference's week (Monday to Sunday), unless
  the sentence's tense says otherwise: in a past-tense sentence ("met on Friday") a weekday after the reference
  day is the one a week earlier, in a "will" sentence a weekday before it the one a week later;
  "last Tuesday" / "next Tuesday" are the one in the week before / after;
- a year alone, or qualified ("2022", "early 2022", "mid-2022", "late 2022"), is the first day of the period
  it names: early and bare -> 1 January, mid -> 1 July, late -> 1 October;
- decades ("the 1990s") and durations ("two years", "more than two years", "recent days") do not resolve;
  "two years ago", "last week", "yesterday" do (through dateparser);
- anything else goes to dateparser (English, ``RELATIVE_BASE`` = reference, ``PREFER_DATES_FROM`` =
  "current_period"), except for the common shapes ("January 12",
  "12 January 2022", "Jan. 12", "January", "March 2022", "today", "yesterday") which are read directly (same
  result, 100x faster). A month without a year ("January 12", "January") takes the year that puts it closest to
  the reference: on 2021-12-28, "January 12" is 2022-01-12, "January" is 2022-01-01, "December 25" is 2021-12-25.

Results are cached per (phrase, reference day, tense): only phrases that count hours, minutes or seconds ("12 hours
ago") see the reference's time of day, the others resolve against its midnight (the same date, and one dateparser
call per phrase for all of a day's articles instead of one per article).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Literal

import dateparser
from spacy.tokens import Span

from schemas.messages import DateMention

Tense = Literal["past", "future"] | None

_WEEKDAYS = {name: i for i, name in enumerate(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])}
_WEEKDAY = re.compile(
    r"^(?:on\s+)?(?:(?P<rel>last|next|this|past|coming)\s+)?(?P<day>monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)(?:'s|’s)?$", re.I)
_YEAR = re.compile(
    r"^(?:in\s+|by\s+)?(?:the\s+)?(?P<mod>early|mid|late|the\s+start\s+of|the\s+end\s+of|start\s+of|end\s+of"
    r"|beginning\s+of|the\s+beginning\s+of|the\s+middle\s+of|middle\s+of|the\s+first\s+half\s+of"
    r"|the\s+second\s+half\s+of)?[\s-]*(?P<year>1[5-9]\d\d|2[01]\d\d)$", re.I)
_DECADE = re.compile(r"\b\d{2,4}['’]?s\b")
_DURATION_UNIT = re.compile(r"\b(?:second|minute|hour|day|night|week|fortnight|month|quarter|year|decade|century)s?\b",
                            re.I)
_RELATIVE = re.compile(r"\b(?:ago|last|next|this|past|previous|coming|earlier|later|today|yesterday|tomorrow)\b",
                       re.I)
_SUB_DAY = re.compile(r"\b(?:hours?|hrs?|minutes?|mins?|seconds?|secs?)\b", re.I)
_HAS_YEAR = re.compile(r"\b(?:1[5-9]\d\d|2[01]\d\d)\b|['’]\d\d\b")
_MONTH = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?(?:\s|$|,)", re.I)
_PERIOD_START = {"early": 1, "mid": 7, "late": 10, "middle": 7, "end": 10, "second": 7}
_MONTHS = {name: i + 1 for i, name in enumerate(
    "january february march april may june july august september october november december".split())}
_MONTHS.update({name[:3]: i for name, i in list(_MONTHS.items())} | {"sept": 9})
_MONTH_NAME = r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|" \
              r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_YEAR_PART = r"(?:,?\s+(?P<year>1[5-9]\d\d|2[01]\d\d))?"
_CALENDAR = [  # the common shapes, resolved without dateparser (~5 ms a call here)
    re.compile(rf"^(?:on\s+)?(?:the\s+)?{_MONTH_NAME}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?{_YEAR_PART}$", re.I),
    re.compile(rf"^(?:on\s+)?(?:the\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH_NAME}{_YEAR_PART}$",
               re.I),
    re.compile(rf"^(?:in\s+)?(?:early\s+|mid-?\s*|late\s+)?{_MONTH_NAME}{_YEAR_PART}$", re.I),
]
_DAYS_AWAY = {"today": 0, "yesterday": -1, "tomorrow": 1, "tonight": 0, "this morning": 0, "this afternoon": 0,
              "this evening": 0, "last night": -1}


def resolve(text: str, reference: dt.datetime, tense: Tense = None) -> dt.date | None:
    """The calendar date ``text`` names, relative to ``reference``, or None (see the module docstring)."""
    phrase = " ".join(text.split())
    today = reference.date()
    # the time of day changes the date only for hours, minutes, seconds ("12 hours ago"); without them the phrase
    # resolves against midnight, so that every article of a day shares _resolve's cache
    base = reference.replace(tzinfo=None) if _SUB_DAY.search(phrase) else dt.datetime.combine(today, dt.time())
    return _resolve(phrase, today, base, tense)


def tense_of(sentence: Span) -> Tense:
    """"past" when the sentence has a past-tense verb and no "will"; "future" with "will"/"shall"; else None."""
    tags = [(t.tag_, t.lower_) for t in sentence]
    if any(tag == "MD" and word in ("will", "'ll", "’ll", "shall") for tag, word in tags):
        return "future"
    if any(tag == "VBD" for tag, _word in tags):
        return "past"
    return None


@functools.lru_cache(maxsize=4096)
def _resolve(phrase: str, today: dt.date, base: dt.datetime, tense: Tense = None) -> dt.date | None:
    if not phrase or len(phrase) > 80 or phrase.isdigit() and len(phrase) < 4:
        return None  # a bare "17" is an age or a count as often as a day
    if (m := _WEEKDAY.match(phrase)) is not None:
        monday = today - dt.timedelta(days=today.weekday())
        shift = {"last": -7, "past": -7, "next": 7, "coming": 7}.get((m["rel"] or "").lower(), 0)
        day = monday + dt.timedelta(days=_WEEKDAYS[m["day"].lower()] + shift)
        if not m["rel"] and tense == "past" and day > today:
            day -= dt.timedelta(days=7)  # "met on Friday", said on a Tuesday: the Friday before
        elif not m["rel"] and tense == "future" and day < today:
            day += dt.timedelta(days=7)  # "will meet on Monday", said on a Tuesday: the Monday after
        return day
    if phrase.lower() in _DAYS_AWAY:
        return today + dt.timedelta(days=_DAYS_AWAY[phrase.lower()])
    for pattern in _CALENDAR:
        if (m := pattern.match(phrase)) is not None:
            return _calendar(m, today)
    if (m := _YEAR.match(phrase)) is not None:
        modifier = (m["mod"] or "").lower().split()
        month = next((_PERIOD_START[w] for w in modifier if w in _PERIOD_START), 1)
        return dt.date(int(m["year"]), month, 1)
    if _DECADE.search(phrase):
        return None
    if _DURATION_UNIT.search(phrase) and not _RELATIVE.search(phrase):
        return None
    parsed = _dateparser(phrase, base)
    if parsed is None:
        return None
    if not _HAS_YEAR.search(phrase) and _MONTH.search(phrase):
        candidates = []
        for year in (parsed.year - 1, parsed.year, parsed.year + 1):
            try:
                candidates.append(parsed.replace(year=year))
            except ValueError:  # 29 February
                continue
        parsed = min(candidates, key=lambda d: abs(d - today))
    return parsed


def _calendar(m: re.Match[str], today: dt.date) -> dt.date | None:
    """A month (and day, and year) named; without a year, the year that puts it closest to ``today``."""
    month = _MONTHS[m["month"].lower().rstrip(".")]
    day = int(m.groupdict().get("day") or 1)
    years = [int(m["year"])] if m["year"] else [today.year - 1, today.year, today.year + 1]
    candidates = []
    for year in years:
        try:
            candidates.append(dt.date(year, month, day))
        except ValueError:  # 31 April, 29 February
            continue
    return min(candidates, key=lambda d: abs(d - today)) if candidates else None


def _dateparser(phrase: str, base: dt.datetime) -> dt.date | None:
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "current_period",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "STRICT_PARSING": False,
    }
    try:
        parsed = dateparser.parse(phrase, languages=["en"], settings=settings)
    except Exception:  # dateparser raises assorted errors (OverflowError, ValueError, ...) on odd phrases
        return None
    return parsed.date() if parsed is not None else None


def mention(text: str, start: int, end: int, reference: dt.datetime, tense: Tense = None) -> DateMention:
    return DateMention(text=text[start:end], start=start, end=end, date=resolve(text[start:end], reference, tense))


@functools.cache
def warm_up() -> None:
    """dateparser loads its language data on first use (~0.4 s): do it once, at model load."""
    _dateparser("January 1, 2020", dt.datetime(2020, 1, 1))
