"""What a text says about its article, and the value checks both modes share (pure; never raises on odd input).

A plain-text push (or the body lines of an HTML page) can carry, near its start or end:

    dateline        ``PARIS, Dec 2 (Reuters) - The...``, ``NEW DELHI:``, ``WASHINGTON (AP) —``: a date (the
                    latest such day not after ``now`` when the year is left out) and an agency; the line stays
                    in the body (it is the story's first sentence)
    byline line     ``By Jane Doe and John Roe, Reuters``, ``Von Anna Muster``: authors (and agency); the line
                    leaves the body
    published line  ``Published March 3, 2025``, ``Updated: 2025-03-03 14:05``, ``Veröffentlicht am 3. März
                    2025``: published_at (or modified_at); the line leaves the body
    agency notice   ``This story has been published ... from a wire agency feed``, ``(With inputs from PTI)``:
                    the agency it names, else ``wire agency``; the line leaves the body

A line that leaves the body is counted as ``BoilerplateCategory.metadata`` in ``removed``, not as boilerplate.
Values: dates are ISO (a day alone when the source gives only a day, the UTC offset when it gives one) and
credible (from 1995 to a day after ``now``); authors are person names (``split_authors``).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from trafilatura.json_metadata import normalize_authors

from schemas.messages import BoilerplateCategory as Cat, PageDate
from services.cleaner.vocabulary import strong_pattern

MIN_DATE = date(1995, 1, 1)  # as htmldate: no news page is older than the web's news sites
MAX_AUTHORS = 20
MAX_AUTHOR_CHARS = 60
MAX_AUTHOR_INPUT = 2000  # characters of a byline read (a 10,000-name byline is not read to its end)
MAX_TAGS, MAX_TAG_CHARS = 20, 60
MAX_URL_CHARS = 2048
HEAD_LINES, TAIL_LINES = 12, 8  # where a text's byline, published line and agency notice are looked for
MAX_META_LINE_WORDS = 30

# ---------------------------------------------------------------------------------------------- dates
_ISO_RE = re.compile(
    r"^\s*(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}:?\d{2}|UTC|GMT)?)?"
)
_MONTHS = {
    m: i + 1
    for i, names in enumerate((
        "jan january januar janvier enero gennaio janeiro januari",
        "feb february februar février fevrier febrero febbraio fevereiro februari",
        "mar march märz maerz mars marzo março marco maart",
        "apr april avril abril aprile",
        "may mai mayo maggio maio mei",
        "jun june juni juin junio giugno junho",
        "jul july juli juillet julio luglio julho",
        "aug august août aout agosto augustus",
        "sep sept september septembre septiembre settembre setembro",
        "oct october oktober octobre octubre ottobre outubro",
        "nov november novembre noviembre novembro",
        "dec december dezember décembre decembre diciembre dicembre dezembro",
    ))
    for m in names.split()
}
_MONTH_ALT = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
# "March 3, 2025", "Mar. 3 2025", "3 March 2025", "3. März 2025", "Dec 2" (no year); numeric "03.03.2025", "3/3/2025"
_WORD_DATE_RE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH_ALT})\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y1>\d{{4}}))?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th|\.)?\s+(?:de\s+)?(?P<m2>{_MONTH_ALT})\.?(?:,?\s+(?:de\s+)?(?P<y2>\d{{4}}))?)\b"
    r"(?:,?\s+(?:at\s+|um\s+|à\s+)?(?P<h>\d{1,2})[:.](?P<mi>\d{2})\s*(?P<ampm>[ap]\.?m\.?)?)?",
    re.IGNORECASE,
)
_YEAR_RE = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_NUM_DATE_RE = re.compile(r"\b(?P<d>\d{1,2})[./](?P<m>\d{1,2})[./](?P<y>\d{4})\b")


def date_limits(now: datetime | None = None) -> tuple[date, date]:
    """The earliest and latest credible publication days: 1995-01-01 and the day after ``now``."""
    now = now or datetime.now(timezone.utc)
    return MIN_DATE, (now + timedelta(days=1)).date()


def _iso(d: date, t: time | None, tz: str | None) -> str:
    if t is None:
        return d.isoformat()
    out = f"{d.isoformat()}T{t.strftime('%H:%M:%S')}"
    if tz in ("Z", "UTC", "GMT"):
        return out + "Z"
    if tz:
        tz = tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
        return out + tz
    return out


def parse_date(value, limits: tuple[date, date], year_hint: date | None = None) -> str | None:
    """An ISO value of a date the source wrote (ISO 8601, "March 3, 2025", "3. März 2025", "03.03.2025",
    a Unix timestamp), or None when it is not one or lies outside ``limits``. A day and month without a year
    take the latest year that does not put them after ``year_hint`` (default: the upper limit)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(int(value))
    if not isinstance(value, str):
        return None
    value = value.strip()[:200]
    if not value:
        return None
    try:
        if value.isdigit() and len(value) in (10, 13):  # a Unix timestamp, seconds or milliseconds
            stamp = datetime.fromtimestamp(int(value) / (1000 if len(value) == 13 else 1), timezone.utc)
            return stamp.strftime("%Y-%m-%dT%H:%M:%SZ") if limits[0] <= stamp.date() <= limits[1] else None
        m = _ISO_RE.match(value)
        if m:
            y, mo, d, h, mi, s, tz = m.groups()
            day = date(int(y), int(mo), int(d))
            t = time(int(h), int(mi), int(s or 0)) if h is not None else None
            return _iso(day, t, tz) if limits[0] <= day <= limits[1] else None
        m = _WORD_DATE_RE.search(value)
        if m:
            month = _MONTHS[(m["m1"] or m["m2"]).lower()]
            dd = int(m["d1"] or m["d2"])
            year = m["y1"] or m["y2"] or _YEAR_RE.search(value[m.end():]) and _YEAR_RE.search(value[m.end():])[0]
            if year:  # "March 3, 2025", or a year further on ("Mon Oct 11 14:57:21 CEST 2021")
                day = date(int(year), month, dd)
            else:
                hint = year_hint or limits[1]
                day = date(hint.year, month, dd)
                if day > hint:
                    day = date(hint.year - 1, month, dd)
            t = None
            if m["h"] is not None:
                hour = int(m["h"]) % 12 + (12 if (m["ampm"] or "").lower().startswith("p") else 0) \
                    if m["ampm"] else int(m["h"])
                t = time(hour, int(m["mi"]))
            return _iso(day, t, None) if limits[0] <= day <= limits[1] else None
        m = _NUM_DATE_RE.search(value)
        if m:
            a, b = int(m["d"]), int(m["m"])
            if "/" in m.group(0) and b <= 12 < a:
                pass  # 25/12/2024: day first
            elif "/" in m.group(0) and a <= 12:
                a, b = b, a  # 12/25/2024, and ambiguous slashes: month first (the US usage)
            day = date(int(m["y"]), b, a)
            return day.isoformat() if limits[0] <= day <= limits[1] else None
    except (ValueError, OverflowError, OSError):
        return None
    return None


def page_date(value, provenance: str, limits: tuple[date, date]) -> PageDate | None:
    iso = parse_date(value, limits)
    return PageDate(value=iso, provenance=provenance) if iso else None


_URL_DATE_RE = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})[/_-](?P<m>[01]?\d)[/_-](?P<d>[0-3]?\d)(?!\d)")
_URL_COMPACT_RE = re.compile(r"/(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?:/|[_-]|$)")


def url_date(url: str, limits: tuple[date, date]) -> PageDate | None:
    """A full day in the URL's path (/2024/03/05/, /2024-03-05-, /20240305/), or None (a year and month alone
    are not a publication day)."""
    if not isinstance(url, str):
        return None
    path = urlsplit(url[:MAX_URL_CHARS]).path
    for pattern in (_URL_DATE_RE, _URL_COMPACT_RE):
        m = pattern.search(path)
        if m:
            try:
                day = date(int(m["y"]), int(m["m"]), int(m["d"]))
            except ValueError:
                continue
            if limits[0] <= day <= limits[1]:
                return PageDate(value=day.isoformat(), provenance="url")
    return None


# ---------------------------------------------------------------------------------------------- authors
AGENCIES = {
    "ap": "AP", "associated press": "AP", "the associated press": "AP", "reuters": "Reuters",
    "thomson reuters": "Reuters", "afp": "AFP", "agence france-presse": "AFP", "agence france presse": "AFP",
    "pti": "PTI", "press trust of india": "PTI", "ians": "IANS", "ani": "ANI", "dpa": "dpa",
    "deutsche presse-agentur": "dpa", "efe": "EFE", "ansa": "ANSA", "upi": "UPI", "united press international": "UPI",
    "xinhua": "Xinhua", "kyodo": "Kyodo", "kyodo news": "Kyodo", "yonhap": "Yonhap", "tass": "TASS",
    "itar-tass": "TASS",
    "ria novosti": "RIA Novosti", "interfax": "Interfax", "bloomberg": "Bloomberg", "apa": "APA", "kna": "KNA",
    "epd": "epd", "sda": "SDA", "anp": "ANP", "belga": "Belga", "europa press": "Europa Press", "anadolu": "Anadolu",
    "anadolu agency": "Anadolu", "bernama": "Bernama", "antara": "Antara", "aap": "AAP", "cp": "CP",
    "the canadian press": "CP", "canadian press": "CP", "nanp": "NANP", "wafa": "WAFA", "lusa": "Lusa",
    "agencia brasil": "Agência Brasil", "agência brasil": "Agência Brasil",
}
_AGENCY_ALT = "|".join(sorted((re.escape(k) for k in AGENCIES), key=len, reverse=True))
_AGENCY_RE = re.compile(rf"(?<![\w-])(?:{_AGENCY_ALT})(?![\w-])", re.IGNORECASE)
_BY_RE = re.compile(r"^\s*(?:post author:?\s*(?:by\s+)?|(?:interview|fotos?|photos?|text|texte|bilder)\s*:?\s+|"
                    r"(?:artikel|beitrag|ein beitrag|bericht) von\s+|view all posts by|zeige alle beiträge von|alle beiträge von|alle artikel von|"
                    r"(?:veröffentlicht|publiziert|geschrieben|verfasst|erstellt|gepostet) von|publié par|"
                    r"publicado por|pubblicato da|posted in .{0,40}? by)\s*:?\s*|"
                    r"^\s*(?:(?:written|posted|reported|text|story|words|photos?|compiled|edited)\s+)?"
                    r"(?:by|von der|von|vom|par|por|di|door|av|af|de)\s*[:\-]?\s+|"
                    r"^\s*(?:author|autorin|autor|auteur|autore|"
                    r"redaktion|text|verfasser|verfasst von)\s*:?\s*(?=(?-i:[A-ZÀ-Þ]))", re.IGNORECASE)
_SPLIT_RE = re.compile(r"\s*(?:,|;|\||/|\n|\band\b|\bund\b|\bet\b|\by\b|\be\b|&|\bmit\b|\bwith\b|\bsowie\b|·|•)\s*",
                       re.IGNORECASE)
_EMAIL_RE = re.compile(r"\S+@\S+\.\w+|https?://\S+|www\.\S+")
_PAREN_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_ROLE_WORDS = frozenset(
    "staff writer writers reporter reporters correspondent correspondents editor editors senior chief contributor "
    "contributing columnist columnists journalist journalists photographer photos photo video producer analyst "
    "desk news newsroom team redaktion redakteur redakteurin autor autorin author authors guest special online "
    "digital sports business political politics international national economics economy science health deputy "
    "managing executive associate assistant bureau washington london editorial opinion updated published posted "
    "min read minutes ago am pm uhr and of the for at in on phd md mph msc bsc".split()
)
_AFTER_NAME = _ROLE_WORDS | frozenset(
    "im stand fr sa mon tue wed thu fri sat sun january february march april june july august september october "
    "november december januar februar märz juni juli oktober dezember aktualisiert hace vor".split()
) - {"and", "of", "the", "at", "in", "on"}
_NOT_A_NAME = frozenset("admin administrator anonymous unknown staff redaktion editor editors team guest user "
                        "webmaster newsroom desk support www name name * by von par por post posts edit publiziert "
                        "anónimo anonimo anonyme anonym agencies agenturen agencias datum stand text follow "
                        "veröffentlicht published posted author autor".split())
_NOT_A_NAME_PHRASES = frozenset(("getty images", "shutterstock", "istock", "imago images", "picture alliance"))
_GENDER_SUFFIX_RE = re.compile(r"(\w)\s*[/*:]\s*in\b")  # "Autor/in", "Redakteur*in"
_SAYS_RE = re.compile(r"\s(?:sagt|says|said|schreibt|wrote|writes|dit|dice|disse)\s*:?$|^(?:on|am|le|el|il)\s+\d",
                      re.IGNORECASE)
_TRAILING_DATE_RE = re.compile(r"\s+(?:am|on|le|el|il|at|um)\s+\d.*$", re.IGNORECASE)
_NAME_CHARS_RE = re.compile(r"[^\W\d_]")


def agency_of(text: str) -> str | None:
    m = _AGENCY_RE.search(text or "")
    if not m:
        return None
    found = m.group(0)
    if found.isupper() or found.lower() in ("reuters", "bloomberg", "xinhua", "interfax", "anadolu", "bernama",
                                            "antara", "lusa", "belga", "kyodo", "yonhap", "europa press") \
            or len(found) > 4 or found == "dpa":
        return AGENCIES[found.lower()]
    return None  # a lower-case "ap"/"ani" inside a name or sentence is not an agency


def split_authors(values) -> tuple[tuple[str, ...], str | None]:
    """Person names from byline values ("By Jane Doe and John Roe, Reuters"), and the agency one names.

    Removed: "By"/"Von"/"Par"..., e-mail addresses and links, parenthesised notes, roles ("Staff Writer"),
    dates, agency names (returned apart), and parts that cannot be a name (no letters, over six words or
    MAX_AUTHOR_CHARS). At most MAX_AUTHORS names, case-insensitively unique, in byline order."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        return (), None
    names: list[str] = []
    seen: set[str] = set()
    agency = None
    budget = MAX_AUTHOR_INPUT
    for value in values:
        if not isinstance(value, str) or budget <= 0 or len(names) >= MAX_AUTHORS:
            continue
        value = html.unescape(value[:budget])
        budget -= len(value)
        # an agency in brackets ("(dpa)") is read before trafilatura's normalisation drops bracketed notes
        agency = agency or next((a for m in _PAREN_RE.finditer(value) if (a := agency_of(m.group(0)))), None)
        # trafilatura's normalisation (entities, tags, emoji, @handles, nicknames, "am/on ..." tails)
        value = normalize_authors(None, _GENDER_SUFFIX_RE.sub(r"\1in", value).replace(";", ",")) or ""
        value = _EMAIL_RE.sub(" ", _PAREN_RE.sub(" ", value))
        value = _BY_RE.sub("", _GENDER_SUFFIX_RE.sub(r"\1in", value.strip()))
        for part in _SPLIT_RE.split(value):
            part = _BY_RE.sub("", part.strip(" \t\r\n.:-–—|·•'\"“”«»")).strip(" .:-–—")
            if not part:
                continue
            found_agency = agency_of(part)
            if found_agency and len(part) <= len(found_agency) + 8:
                agency = agency or found_agency
                continue
            if _SAYS_RE.search(part):
                continue  # a comment's signature ("jane says")
            part = _TRAILING_DATE_RE.sub("", part)
            label, colon, rest = part.rpartition(":") if ":" in part else part.rpartition("：")
            if (colon or "：" in part) and rest.strip() and len(label) <= 20:
                part = rest.strip()  # "责任编辑：孔德明", "Text: Anna Muster"
            words = part.split()
            # a name ends where its role, a date or a note begins ("Ingo Arzt Redakteur für Wirtschaft")
            cut = next((i for i, w in enumerate(words) if i >= 2 and w.lower().strip(".,") in _AFTER_NAME), None)
            words = words[:cut]
            while words and words[-1].lower().strip(".,") in _ROLE_WORDS:
                words.pop()
            part = " ".join(words)
            if (not part or len(part) > MAX_AUTHOR_CHARS or len(words) > 6 or not _NAME_CHARS_RE.search(part)
                    or sum(c.isdigit() for c in part) > 2 or part.lower() in _NOT_A_NAME or part.lower() in _NOT_A_NAME_PHRASES
                    or all(w.lower().strip(".,") in _ROLE_WORDS for w in words) or part.startswith("@")):
                continue
            key = part.casefold()
            if key not in seen:
                seen.add(key)
                names.append(part)
                if len(names) >= MAX_AUTHORS:
                    break
    return tuple(names), agency


def split_tags(values) -> tuple[str, ...]:
    out: list[str] = []
    seen: set[str] = set()
    for value in values if isinstance(values, (list, tuple)) else [values]:
        if not isinstance(value, str):
            continue
        for tag in value[:5000].split(","):
            tag = " ".join(tag.split())
            if tag and len(tag) <= MAX_TAG_CHARS and tag.casefold() not in seen:
                seen.add(tag.casefold())
                out.append(tag)
                if len(out) >= MAX_TAGS:
                    return tuple(out)
    return tuple(out)


# ---------------------------------------------------------------------------------------------- URLs
_TRACKING_RE = re.compile(r"^(?:utm_\w+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|_ga|_gl|yclid|igshid|"
                          r"ocid|cmpid|ncid|sr_share|share|smid|ref_src|ref_url|__twitter_impression|at_\w+|"
                          r"wt\.\w+|s_cid|_hsenc|_hsmi|mkt_tok|vero_\w+|oly_\w+|rss|feature)$", re.IGNORECASE)


def clean_url(candidate, base: str | None, keep_query: bool = True) -> str | None:
    """``candidate`` resolved against ``base``, without its fragment and tracking parameters (utm_*, fbclid,
    gclid...); None unless it is an http(s) URL."""
    if not isinstance(candidate, str):
        return None
    candidate = candidate.strip()
    if not candidate or len(candidate) > MAX_URL_CHARS or candidate.startswith(("data:", "javascript:")):
        return None
    try:
        absolute = urljoin(base or "", candidate) if base else candidate
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_RE.match(k)] \
            if keep_query else []
        return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", urlencode(query), ""))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------- language
_STOPWORDS = {
    "en": "the and of to in is that for it with was on as are be this by at from have has not but they",
    "de": "der die und das ist nicht mit den von zu sich des auf für ein eine dem im auch es sie wird",
    "fr": "le la les des est et une dans du pour que qui sur pas par au avec sont ce il elle ne",
    "es": "el la los las del que en y es por con una para se no su al lo como más pero",
    "it": "il di che la per non una sono del della con gli le si è ha da al nel anche",
    "pt": "o a os as do da que em um uma para com não se por mais dos das foi ao",
    "nl": "de het een van en is dat op te zijn met voor niet in aan ook als er door",
}
_STOP_SETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
_LANG_TAG_RE = re.compile(r"^([a-zA-Z]{2,3})(?:[-_]([a-zA-Z]{2}|\d{3}|[a-zA-Z]{4}))?")
_WORDS_RE = re.compile(r"[^\W\d_]+")


def language_of_text(text: str) -> str | None:
    """The language of ``text`` by its commonest function words (en, de, fr, es, it, pt, nl), or None when
    the text is short or no language clearly leads."""
    words = Counter(_WORDS_RE.findall(text[:4000].lower()))
    total = sum(words.values())
    if total < 40:
        return None
    scores = sorted(((sum(words[w] for w in stops), lang) for lang, stops in _STOP_SETS.items()), reverse=True)
    (best, lang), (second, _) = scores[0], scores[1]
    return lang if best >= 0.15 * total and best >= 2 * second else None


def check_language(declared: str | None, text: str) -> str | None:
    """The page's declared language as a BCP 47 tag ("en_us" -> "en-US"), unless the text clearly reads as
    another language, which then wins (primary subtag only); the text's language when nothing is declared."""
    tag = None
    if isinstance(declared, str):
        m = _LANG_TAG_RE.match(declared.strip())
        if m:
            region = m[2]
            tag = m[1].lower() + (f"-{region.upper() if len(region) == 2 else region.title()}" if region else "")
    found = language_of_text(text) if text else None
    if found and (tag is None or tag.split("-")[0] != found):
        return found
    return tag


# ---------------------------------------------------------------------------------------------- text lines
_AGENCY_PAREN = rf"\((?P<agency>{_AGENCY_ALT})\)"
_DATELINE_RE = re.compile(
    rf"^(?P<place>[A-Z][A-Z.'’ -]{{1,40}}?|[A-Z][a-z]+(?: [A-Z][a-z]+){{0,2}})"
    rf"(?:,\s*(?P<date>(?:{_MONTH_ALT})\.?\s+\d{{1,2}}(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}\s+(?:{_MONTH_ALT})\.?(?:\s+\d{{4}})?))?"
    rf"\s*(?:{_AGENCY_PAREN})?\s*(?P<sep>[-–—:])\s+\S",
    re.IGNORECASE,
)
_BYLINE_LINE_RE = re.compile(r"^(?:(?:written|posted|reported|story)\s+)?(?:by|von|par|por)\s+\S", re.IGNORECASE)
_PUBLISHED_RE = re.compile(
    r"^(?:(?P<upd>(?:last\s+)?updated|modified|aktualisiert|mis à jour|actualizado)|first published|published|posted|"
    r"date|veröffentlicht|erschienen|publié|publicado|pubblicato)(?:\s+(?:on|at|am|le|el|il))?\s*:?\s*(?P<rest>.+)$",
    re.IGNORECASE,
)
# the cleaner's feed-notice vocabulary (vocabulary.STRONG), and "(With inputs from PTI)", "Source: Reuters"
_NOTICE_RE = re.compile(
    strong_pattern(Cat.feed_notice).pattern + r"|^\(?with (?:additional )?inputs? from\b|agency (?:feed|copy|inputs?)\b|"
    r"^(?:source|quelle|fuente|fonte)\s*:\s*(?:" + _AGENCY_ALT + r")\b",
    re.IGNORECASE,
)
_DATE_ONLY_RE = re.compile(r"^[\W\d]*$")


def line_meta(text: str, limits: tuple[date, date], reference: date | None = None) -> dict | None:
    """What one short line says about the article, as ArticleMeta-like values with a ``"kind"`` (byline,
    published, notice), or None when it is not such a line. Such a line leaves the body."""
    if len(text) > 300 or len(text.split()) > MAX_META_LINE_WORDS:
        return None
    m = _PUBLISHED_RE.match(text)
    if m:
        rest = m["rest"]
        when = parse_date(rest, limits, reference)
        if when:
            out: dict = {"kind": "published"}
            key = "modified_at" if m["upd"] else "published_at"
            out[key] = PageDate(value=when, provenance="text:updated" if m["upd"] else "text:published")
            by = re.search(r"\b(?:by|von|par)\s+(.+)$", rest, re.IGNORECASE)
            if by:
                out["authors"], out["agency"] = split_authors(by.group(1))
            return out
    if _BYLINE_LINE_RE.match(text) and len(text.split()) <= 20:
        head, _, tail = text.partition("|")
        authors, agency = split_authors(re.split(r"\s[-–—]\s|\s{2,}", head)[0])
        if authors or agency:
            out = {"kind": "byline", "authors": authors, "agency": agency}
            when = parse_date(tail, limits, reference) if tail else None
            if when:
                out["published_at"] = PageDate(value=when, provenance="text:byline")
            return out
    if _NOTICE_RE.search(text) and not text.endswith("?"):
        return {"kind": "notice", "agency": agency_of(text) or "wire agency"}
    return None


def dateline(text: str, limits: tuple[date, date], reference: date | None = None) -> dict:
    """The dateline's date and agency at the start of a story's first paragraph ("PARIS, Dec 2 (Reuters) -")."""
    m = _DATELINE_RE.match(text[:160])
    if not m or not (m["date"] or m["agency"] or (m["place"].isupper() and len(m["place"]) >= 3)):
        return {}
    out: dict = {}
    if m["date"]:
        when = parse_date(m["date"], limits, reference)
        if when:
            out["published_at"] = PageDate(value=when, provenance="text:dateline")
    if m["agency"]:
        out["agency"] = AGENCIES[m["agency"].lower()]
    return out


def text_meta(lines: list[str], now: datetime | None = None) -> tuple[dict, set[int]]:
    """The metadata a text's lines give (ArticleMeta field values, first found wins) and the indexes of the
    lines that leave the body for it. Only the first HEAD_LINES and last TAIL_LINES lines are read."""
    limits = date_limits(now)
    reference = limits[1] - timedelta(days=1)
    found: dict = {}
    meta_lines: set[int] = set()
    n = len(lines)
    candidates = list(range(min(n, HEAD_LINES))) + list(range(max(HEAD_LINES, n - TAIL_LINES), n))
    for i in candidates:
        got = line_meta(lines[i], limits, reference)
        if got is None:
            continue
        meta_lines.add(i)
        for key, value in got.items():
            if key != "kind" and value and key not in found:
                found[key] = value
    for i in range(min(n, HEAD_LINES)):  # the first line that reads like a story's start
        if i not in meta_lines and len(lines[i].split()) >= 8:
            for key, value in dateline(lines[i], limits, reference).items():
                found.setdefault(key, value)
            break
    return found, meta_lines
