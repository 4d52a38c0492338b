"""DATE mentions resolved to calendar dates, relative to an anchor: the article's publication date when it is
known, else the time it was ingested (``Anchor.of``; each ``DateMention.anchor`` says which).

The anchor (``Anchor.of(published_at, ingested_at)``):
- ``published_at`` when the article has one (``PageDate``), on the publisher's own calendar: a value with a UTC
  offset keeps it ("2021-12-28T23:30:00-05:00" is the 28th, not the 29th in UTC), a date alone is that day's
  midnight; a publication date later than the ingest time (plus a day of timezone slack) or before 1900 is not
  believed, and the anchor falls back to ``ingested_at`` (UTC);
- the same for ``newsflow extract``'s ``published_at`` (batch.py).

Choices, in the order they are tried (``None`` when nothing applies):
- a weekday alone ("Tuesday", "on Tuesday", "late Friday", "Tuesday night") is that weekday in the anchor's week
  (Monday to Sunday), unless the tense of the clause the date belongs to says otherwise (``clause_tense``: the
  first finite verb above the date in the dependency parse of its sentence): in a past clause ("met on Friday") a
  weekday after the anchor day is the one a week earlier, in a future clause ("will meet on Monday", "would",
  "is going to", "is meeting") a weekday before it the one a week later; "said on Tuesday that it will spend" is
  the past Tuesday, because "Tuesday" hangs on "said", not on "will spend". Only the sentences holding such
  weekdays are parsed; without a parse, the sentence's tense counts;
  "last Tuesday" / "next Tuesday" are the one in the week before / after;
- a year alone, or qualified ("2022", "early 2022", "mid-2022", "late 2022"), is the first day of the period
  it names: early and bare -> 1 January, mid -> 1 July, late -> 1 October;
- decades ("the 1990s") and durations ("two years", "more than two years", "recent days") do not resolve;
  "two years ago", "last week", "yesterday" do (through dateparser);
- anything else goes to dateparser (English, ``RELATIVE_BASE`` = the anchor, ``PREFER_DATES_FROM`` = "past" /
  "future" when a weekday's clause has that tense (a weekday phrase of another shape), else "current_period"),
  except for the common shapes ("January 12", "12 January 2022", "Jan. 12", "January", "March 2022", "today",
  "yesterday") which are read directly (same result, 100x faster). A month without a year ("January 12", "January") takes the
  year that puts it closest to the anchor, whatever the tense (news often puts a coming date in a past clause:
  "talks were set for January 12"): on 2021-12-28, "January 12" is 2022-01-12, "January" is 2022-01-01,
  "December 25" is 2021-12-25.

Results are cached per (phrase, anchor day, tense): only phrases that count hours, minutes or seconds ("12 hours
ago") see the reference's time of day, the others resolve against its midnight (the same date, and one dateparser
call per phrase for all of a day's articles instead of one per article).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import dateparser
from spacy.tokens import Doc, Span, Token

from schemas.messages import DateMention, PageDate

Tense = Literal["past", "future"] | None
AnchorKind = Literal["published_at", "ingested_at"]
Parser = Callable[[list[Span]], list[Doc]]  # nlp._parse: the dependency parses of sentences, one Doc each

_WEEKDAYS = {name: i for i, name in enumerate(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])}
_WEEKDAY = re.compile(  # "Tuesday", "on Tuesday", "last Tuesday", "late Friday", "early on Monday", "Tuesday night"
    r"^(?:(?:early|late)\s+)?(?:on\s+)?(?:(?P<rel>last|next|this|past|coming)\s+)?(?P<day>monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday)(?:'s|’s)?(?:\s+(?:morning|afternoon|evening|night)(?:'s|’s)?)?$", re.I)
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
_WEEKDAY_WORD = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", re.I)
_FUTURE_AUX = frozenset({"will", "'ll", "’ll", "shall", "wo", "would"})  # "wo" of "won't"
_PLAN_VERBS = frozenset({"going", "set", "scheduled", "expected", "planned", "plans", "plan", "planning", "poised",
                         "slated", "intends", "intend", "intended", "aims", "aim", "aimed", "due"})
_PRESENT_AUX = frozenset({"is", "are", "am", "'s", "’s", "'re", "’re", "'m", "’m"})
_EARLIEST_PUBLICATION = dt.date(1900, 1, 1)
_DAYS_AWAY = {"today": 0, "yesterday": -1, "tomorrow": 1, "tonight": 0, "this morning": 0, "this afternoon": 0,
              "this evening": 0, "last night": -1}


@dataclass(frozen=True)
class Anchor:
    """What relative dates resolve against: ``moment`` (its own calendar day: an aware datetime keeps its UTC
    offset) and which of the article's times it is."""

    moment: dt.datetime
    kind: AnchorKind = "ingested_at"

    @classmethod
    def of(cls, published_at: PageDate | None, ingested_at: dt.datetime) -> Anchor:
        """The publication date when there is a believable one, else ``ingested_at`` (see the module docstring)."""
        if published_at is not None:
            try:
                moment = dt.datetime.fromisoformat(published_at.value.replace("Z", "+00:00"))
            except ValueError:  # matches PAGE_DATE_PATTERN but is no date ("2025-02-30")
                moment = None
            if moment is not None and _EARLIEST_PUBLICATION <= moment.date() <= _latest_day(ingested_at):
                return cls(moment, "published_at")
        return cls(ingested_at, "ingested_at")


def _latest_day(ingested_at: dt.datetime) -> dt.date:
    """The last publication day believable for an article ingested at ``ingested_at``: the next day (a
    publisher east of UTC is already there)."""
    return (ingested_at.astimezone(dt.timezone.utc) if ingested_at.tzinfo else ingested_at).date() \
        + dt.timedelta(days=1)


def mentions(doc: Doc, text: str, reference: dt.datetime | Anchor, parse: Parser | None = None
             ) -> Iterator[DateMention]:
    """The DATE entities of ``doc`` (a doc of ``text``), resolved against ``reference`` (a bare datetime is an
    ingest time); a weekday's tense comes from its clause, from ``parse`` of its sentence (only those are parsed),
    else from its sentence."""
    anchor = reference if isinstance(reference, Anchor) else Anchor(reference)
    found = [ent for ent in doc.ents if ent.label_ == "DATE"]
    needing = [ent for ent in found if _needs_tense(ent.text)]
    tenses = _clause_tenses(needing, parse) if needing and parse is not None else {}
    for ent in found:
        tense: Tense = None
        if _needs_tense(ent.text):
            tense = tenses[ent.start] if ent.start in tenses else tense_of(ent.sent)
        yield mention(text, ent.start_char, ent.end_char, anchor, tense)


def _needs_tense(phrase: str) -> bool:
    """Only a weekday without "last"/"next"/"this"... depends on the tense."""
    return bool(_WEEKDAY_WORD.search(phrase)) and not _RELATIVE.search(phrase)


def _clause_tenses(ents: list[Span], parse: Parser) -> dict[int, Tense]:
    """Each entity's clause tense by its first token's index in the doc, from the parses of their sentences."""
    sentences = list({s.start: s for s in (ent.sent for ent in ents)}.values())
    parsed = {s.start: doc for s, doc in zip(sentences, parse(sentences), strict=True)}
    tenses: dict[int, Tense] = {}
    for ent in ents:
        sentence = ent.sent
        doc = parsed[sentence.start]
        tenses[ent.start] = clause_tense(doc[ent.root.i - sentence.start])
    return tenses


def clause_tense(token: Token) -> Tense:
    """The tense of the clause ``token`` (in a parsed doc) belongs to: that of the first finite verb up its chain
    of heads. Participles and infinitives without an auxiliary pass it on to the verb above them ("posted an
    image of him holding a shirt on Wednesday": "posted"; "decided to weigh in on Monday": "decided"), except an
    infinitive under a verb of plans ("was set to begin shutting off power Wednesday", "is going to meet"),
    which is future. A finite verb is "future" with "will"/"shall"/"would"/"won't" ("will be held") or in the
    present progressive ("is meeting on Friday"), "past" as a past form ("said"), with a past auxiliary ("was
    held", "had met", "did") or as a perfect ("has met"), else None ("meets", "may meet", "Host the Lakers on
    Friday")."""
    node = token
    for _step in range(len(token.doc)):  # a tree's chain of heads is shorter than its doc
        if _is_verb(node):
            auxes = [c for c in node.children if c.dep_ in ("aux", "auxpass")]
            words = {a.lower_ for a in auxes}
            if "to" in words and not words & _FUTURE_AUX:  # an infinitive ("to meet", "to be held")
                if node.head.lower_ in _PLAN_VERBS:
                    return "future"
            elif auxes or node.tag_ not in ("VBG", "VBN"):  # finite (or an imperative)
                return _verb_tense(node, auxes, words)
        if node.head.i == node.i:
            return None  # the root, and no finite verb on the way: a headline, a caption
        node = node.head
    return None


def _is_verb(token: Token) -> bool:
    return token.tag_.startswith("VB") and token.dep_ not in ("aux", "auxpass")


def _verb_tense(verb: Token, auxes: list[Token], words: set[str]) -> Tense:
    if words & _FUTURE_AUX:
        return "future"
    if verb.tag_ == "VBD" or any(a.tag_ == "VBD" for a in auxes):
        return "past"
    if verb.tag_ == "VBN" and words & {"has", "have", "'s", "’s", "'ve", "’ve"}:
        return "past"
    if verb.tag_ == "VBG" and words & _PRESENT_AUX:
        return "future"
    return None


def resolve(text: str, reference: dt.datetime, tense: Tense = None) -> dt.date | None:
    """The calendar date ``text`` names, relative to ``reference``, or None (see the module docstring)."""
    phrase = " ".join(text.split())
    today = reference.date()
    # the time of day changes the date only for hours, minutes, seconds ("12 hours ago"); without them the phrase
    # resolves against midnight, so that every article of a day shares _resolve's cache
    base = reference.replace(tzinfo=None) if _SUB_DAY.search(phrase) else dt.datetime.combine(today, dt.time())
    try:
        return _resolve(phrase, today, base, tense)
    except (ValueError, OverflowError):  # a week before 0001-01-01, a year after 9999
        return None


def tense_of(sentence: Span) -> Tense:
    """The sentence's tense, when its clauses are not parsed: "future" with "will"/"shall"; else "past" with a
    past-tense verb; else None."""
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
    parsed = _dateparser(phrase, base, tense)
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


def _dateparser(phrase: str, base: dt.datetime, tense: Tense = None) -> dt.date | None:
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": tense or "current_period",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "STRICT_PARSING": False,
    }
    try:
        parsed = dateparser.parse(phrase, languages=["en"], settings=settings)
    except Exception:  # dateparser raises assorted errors (OverflowError, ValueError, ...) on odd phrases
        return None
    return parsed.date() if parsed is not None else None


def mention(text: str, start: int, end: int, reference: dt.datetime | Anchor, tense: Tense = None) -> DateMention:
    anchor = reference if isinstance(reference, Anchor) else Anchor(reference)
    return DateMention(text=text[start:end], start=start, end=end, date=resolve(text[start:end], anchor.moment, tense),
                       anchor=anchor.kind)


@functools.cache
def warm_up() -> None:
    """dateparser loads its language data on first use (~0.4 s): do it once, at model load."""
    _dateparser("January 1, 2020", dt.datetime(2020, 1, 1))
