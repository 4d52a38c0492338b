"""The cleaner's vocabulary: character tables, boilerplate patterns with their prefilters, and the one categoriser.

The bottom layer of the cleaner (imports nothing of it). The patterns are general call-to-action and
page-furniture vocabulary (mostly English, with the commonest Portuguese, Spanish, French, German and Italian
equivalents), never phrases, names or ids of given sites. Two strengths:

- ``WEAK``: a word that boilerplate uses but stories use too ("share", "app", "comments"): a model feature and
  the label of a removed line, never a reason to remove by itself;
- ``STRONG``: a phrase stories almost never contain ("subscribe to", "enter a valid email", "all rights
  reserved", "published without modification"): a short line that has one is removed whatever the model says.

Each pattern is written once, with its trigger words marked ``<word|word>``: a marked word must begin a token
of every match, so a line with no token starting like one (first four letters) cannot match, and the features
search a pattern only in the few lines that have one of its triggers. ``_vocabulary_pattern`` checks that every
alternative of a pattern has such a required word and builds both the regex and the prefilter from it.
``categorise`` is the one rule that names a removed line's category. Pure: no I/O, no model, no features.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from schemas.messages import BoilerplateCategory as Cat

_I = re.IGNORECASE | re.UNICODE
WORD_RE = re.compile(r"\w+", re.UNICODE)
# Chinese and Japanese are written without spaces: for the features, a run of their characters counts as one
# word every two characters (about the mean word length), and a chunk holding a function character (particle,
# auxiliary) counts as a stopword. Korean has spaces and stays as \w+ words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
FEATURE_WORD_RE = re.compile(rf"[^\W{_CJK}]+|[{_CJK}]{{1,2}}")
CJK_RE = re.compile(f"[{_CJK}]")
CJK_FUNCTION_CHARS = frozenset("のにはをがでともへやかなたてしいうるれらすまだよね"
                               "的了是在和有不这也就都而及与着或被把对从但并其之以于为")
END_PUNCT = frozenset(".!?。！？…\"'”’»):;")
SENT_PUNCT = ".,;:!?，。、"
SEPARATORS = "|»›·•/"
PREFIX_LEN = 4  # a trigger is a token's first four letters
COPYRIGHT = "©"  # the one trigger that is not a word: the line's character

# Character classes as lookup tables over the Basic Multilingual Plane (other code points map to U+FFFF).
_BMP = 0x10000


def _char_table(chars) -> np.ndarray:
    table = np.zeros(_BMP, dtype=bool)
    table[[ord(c) for c in chars]] = True
    return table


SENT_PUNCT_TABLE = _char_table(SENT_PUNCT)
SEPARATOR_TABLE = _char_table(SEPARATORS)
END_PUNCT_TABLE = _char_table(END_PUNCT)
COLON_TABLE = _char_table(":")
UPPER_TABLE = np.fromiter((chr(c).isupper() for c in range(_BMP)), dtype=bool, count=_BMP)
DIGIT_TABLE = np.fromiter((chr(c).isdigit() for c in range(_BMP)), dtype=bool, count=_BMP)


def code_points(text: str) -> np.ndarray:
    """The code points of ``text`` (those beyond the BMP as U+FFFF, for the tables above)."""
    return np.minimum(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32), _BMP - 1)


class Vocabulary(NamedTuple):
    """One boilerplate pattern: its category, the regex, the regex for one line of a lower-cased "\\n"-joined
    text, and its trigger prefixes (built together by ``_vocabulary_pattern``; never written apart)."""

    category: Cat
    pattern: re.Pattern[str]
    line_pattern: re.Pattern[str]
    triggers: frozenset[str]


_MARK_RE = re.compile(r"<([^<>]+)>")
_TOKEN_END = (" ", r"\b", r"\s", "$", ")", r"\)", "-")  # what may follow a marked word shorter than PREFIX_LEN


def _top_level(pattern: str) -> list[tuple[str, list[int]]]:
    """The top-level alternatives of ``pattern``, each with the paren depth of each of its characters (a
    ``<word|word>`` mark is one item: its "|" does not split)."""
    parts, depths, current, depth, i, in_mark = [], [], [], 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            current.append(pattern[i : i + 2])
            depths.extend([depth, depth])
            i += 2
            continue
        in_mark = (in_mark or c == "<") and c != ">"
        if c == "|" and depth == 0 and not in_mark:
            parts.append(("".join(current), depths))
            current, depths = [], []
        else:
            depth += (c == "(") - (c == ")")
            current.append(c)
            depths.append(depth)
        i += 1
    parts.append(("".join(current), depths))
    return parts


def _ends_token(after: str) -> bool:
    """Whether the regex text ``after`` a marked word ends the token there: optional spaces, then something that
    is not a word character ("ad ?choices" can be the one token "adchoices"; "ad\\s*$" cannot)."""
    after = re.sub(r"^(?: |\\s)[?*]", "", after)
    end = next((t for t in _TOKEN_END if after.startswith(t)), None)
    return end is not None and after[len(end) : len(end) + 1] not in ("?", "*", "{")


def _triggers(marked: str) -> frozenset[str]:
    """The trigger prefixes of a pattern written with ``<word|word>`` marks; raises ValueError when an alternative
    has no required mark (outside any group, not made optional) or a short word could run on into a longer token."""
    prefixes: set[str] = set()
    for part, depths in _top_level(marked):
        required = [m for m in _MARK_RE.finditer(part)
                    if depths[m.start()] == 0 and not part[m.end() : m.end() + 1] in ("?", "*", "{")]
        if not required:
            raise ValueError(f"vocabulary alternative {part!r} has no required <trigger> word")
        for m in required:
            after = part[m.end() :]
            for word in m.group(1).split("|"):
                if word != COPYRIGHT and len(word) < PREFIX_LEN and after and not _ends_token(after):
                    raise ValueError(f"short trigger {word!r} in {part!r} could begin a longer token")
                prefixes.add(word if word == COPYRIGHT else word.lower()[:PREFIX_LEN])
    return frozenset(prefixes)


def _vocabulary_pattern(cat: Cat, marked: str) -> Vocabulary:
    pattern = _MARK_RE.sub(r"(?:\1)", marked)
    # searched in a "\n"-joined lower-cased text (lower-casing once is much faster than IGNORECASE): \s stays
    # within a line
    line_pattern = re.compile(pattern.replace(r"\s", r"[^\S\n]"), re.MULTILINE)
    return Vocabulary(cat, re.compile(pattern, _I), line_pattern, _triggers(marked))


# Order matters: the first category whose pattern matches names the line.
STRONG: tuple[Vocabulary, ...] = tuple(
    _vocabulary_pattern(cat, marked)
    for cat, marked in (
        (Cat.feed_notice, r"\b<published> without modification|(?:wire|news) <agency> feed|\b<auto>-?generated from a "
                          r"syndicated|\b<syndicated> feed|has not been <edited> by|from a (?:wire|syndicated) "
                          r"<agency|feed>|\b<only> the (?:headline|image) (?:has|may have) been (?:changed|reworked)"),
        (Cat.cookie_consent, r"\bwe use <cookies>\b|\buses? <cookies>\b|\b<cookie> (?:policy|settings|preferences)\b|"
                             r"\baccept (?:all )?<cookies>\b|\bmanage (?:your )?<consent>\b|\b<consent> preferences\b"),
        (Cat.newsletter, r"\b<subscrib>(?:e|ing) (?:to|for|now|today)\b|\b<thank>(?:s| you) for subscribing\b|"
                         r"\b<sign>(?:ing)? up (?:for|to|now|today)\b|\b<enter> (?:a |your )?(?:valid )?e-?mail\b|"
                         r"\b<valid> e-?mail\b|\byour e-?mail <address>\b|\b<newsletter>s?\b.{0,40}\b"
                         r"(?:sign|subscri|inbox)|\b(?:in|to) your <inbox>\b|\b<never> miss (?:a|an|the|another) "
                         r"(?:story|update|thing|article)\b|\b<stay> (?:connected|informed|updated|up to date)\b|"
                         r"\b<assine> (?:a|o|já)\b|\b<suscr>[ií]bete\b|\b<abonnez>-vous\b|\b<jetzt> abonnieren\b|"
                         r"\b<iscriviti>\b"),
        (Cat.app_promotion, r"\b(?:download|get|install|try) (?:the |our )?(?:\w+ )?<app>\b|\bour <app>\b|"
                            r"\b<app> now\b|\b<app> store\b|\b<google> play\b|\bbaixe o <app>\b|\bdescarga la <app>\b"),
        (Cat.share_social, r"\b<share> (?:this|on|via|the story|article)\b|\b<follow> us\b|\b<follow> \w+ on "
                           r"(?:facebook|twitter|instagram|linkedin)\b|\b<click> to share\b|\b<share> this\b|"
                           r"\b<like|join> us on (?:facebook|twitter|instagram)\b|\b<compartilhe>\b|\b<compartir>\b|"
                           r"\b<partager>\b|\b<teilen>\b|\b<condividi>\b"),
        (Cat.related_links, r"^(?:also )?<read> (?:more|also|next)\b|\b<read> more\b|\balso <read>\b|\b<see> also\b|"
                            r"\b<you> (?:may|might) (?:also )?(?:like|enjoy|be interested)\b|\b<more> (?:stories|news) "
                            r"(?:from|on|about)\b|^<related|recommended>\b|^<most> (?:read|popular|viewed)\b|"
                            r"^<trending>\b|^<top> stories\b|^<latest> (?:news|stories)\b|^<more> from\b|"
                            r"\b<leia> (?:também|mais)\b|\b<lee> también\b|\b<lire> aussi\b|\b<mehr> zum thema\b|"
                            r"\b<leggi> anche\b"),
        (Cat.advertising, r"^<advertisement|advertising|sponsored|ad|anúncio|publicidad|publicité|anzeige|"
                          r"pubblicità>\s*$|\b<sponsored> content\b|\b<paid> (?:post|content)\b|\b<ad> choices\b|"
                          r"\b<adchoices>\b"),
        (Cat.legal, r"\b<all> rights reserved\b|<©>|\(<c>\) ?\d{4}|\b<copyright>\b.{0,20}\d{4}|\b<terms> (?:of|and) "
                    r"(?:use|service|conditions)\b|\b<privacy> (?:policy|notice)\b|\b<todos> os direitos\b|"
                    r"\b<todos> los derechos\b|\b<tous> droits\b|\b<alle> rechte\b|\b<tutti> i diritti\b"),
        (Cat.comments, r"\b(?:leave|post|add|view|show|load) (?:a |your |all )?<comment>s?\b|\b<comment>s? "
                       r"(?:are|is) closed\b|\b<join> the (?:discussion|conversation)\b|\blog ?in to "
                       r"<comment|reply>\b|^\d+\s+<comment>s?$"),
        (Cat.navigation, r"^<skip> to (?:main )?content\s*$|^<menu|home|search|next|previous|close>\s*$|"
                         r"^<sign> in\s*$|^<log> in\s*$|^<login>\s*$|^<log> out\s*$|^<logout>\s*$|"
                         r"^<back> to top\s*$|^<toggle> navigation\s*$|^<main> menu\s*$"),
    )
)

WEAK: tuple[Vocabulary, ...] = tuple(
    _vocabulary_pattern(cat, marked)
    for cat, marked in (
        (Cat.feed_notice, r"\b<feed|wire|agency>\b|\b<syndicat>\w*\b"),
        (Cat.cookie_consent, r"\b<cookie>s?\b|\b<consent>\b|\b<gdpr>\b"),
        (Cat.newsletter, r"\b<newsletter>s?\b|\b<subscri>\w+|\be-<mail>\b|\b<email>\b|\b<sign> up\b|\b<signup>\b|"
                         r"\b<inbox>\b|\b<register>\b"),
        (Cat.app_promotion, r"\b<app|apps>\b|\b<download>\b|\b<mobile>\b"),
        (Cat.share_social, r"\b<share|tweet|facebook|twitter|whatsapp|linkedin|pinterest|reddit|instagram|"
                           r"telegram|flipboard|youtube|print|rss>\b"),
        (Cat.related_links, r"\b<related|recommended|read|more|popular|trending|latest|stories|next>\b"),
        (Cat.advertising, r"\b<advert|sponsor|promot>\w*\b|\b<ad|ads>\b"),
        (Cat.legal, r"\b<copyright|rights|privacy|terms|policy|disclaimer|reserved>\b"),
        (Cat.comments, r"\b<comment|comments|reply|replies|discussion>\b"),
        (Cat.navigation, r"\b<home|menu|search|login|contact|careers|sitemap|section>\b|\b<sign> in\b|"
                         r"\b<about> us\b"),
    )
)

def strong_pattern(category: Cat) -> re.Pattern[str]:
    """The strong pattern of ``category`` (for other readers of the same vocabulary, e.g. the feed notice)."""
    return next(v.pattern for v in STRONG if v.category is category)


PATTERNS = (*STRONG, *WEAK)  # the order of the features' strong_* then weak_* columns
WEAK_COMMENTS = [v.category for v in WEAK].index(Cat.comments)
# trigger -> bit k set when PATTERNS[k] has it
TRIGGER_BITS: dict[str, int] = {}
for _k, _vocabulary in enumerate(PATTERNS):
    for _trigger in _vocabulary.triggers:
        TRIGGER_BITS[_trigger] = TRIGGER_BITS.get(_trigger, 0) | (1 << _k)


def line_hits(line: str) -> tuple[np.ndarray, np.ndarray]:
    """0/1 vectors of the STRONG and the WEAK patterns ``line`` matches (the line-by-line form of the features'
    vocabulary columns, for a line outside a feature matrix)."""
    tokens = {w.lower()[:PREFIX_LEN] for w in WORD_RE.findall(line)}
    if COPYRIGHT in line:
        tokens.add(COPYRIGHT)
    hits = np.array([float(not v.triggers.isdisjoint(tokens) and bool(v.pattern.search(line))) for v in PATTERNS])
    return hits[: len(STRONG)], hits[len(STRONG) :]


_CATS = tuple(Cat)
_STRONG_CAT = np.array([_CATS.index(v.category) for v in STRONG])
_WEAK_CAT = np.array([_CATS.index(v.category) for v in WEAK])


def categorise(strong: np.ndarray, weak: np.ndarray, n_words: np.ndarray, in_list: np.ndarray) -> list[Cat]:
    """Why removed lines were removed, one a row of ``strong`` / ``weak`` (0/1 hits of STRONG / WEAK): the first
    strong cue, else the first weak cue of a short line (<= 12 words), else navigation for a short list item
    (<= 6 words), else other."""
    out = np.where(in_list & (n_words <= 6), _CATS.index(Cat.navigation), _CATS.index(Cat.other))
    out = np.where((n_words <= 12) & (weak.max(axis=1, initial=0) > 0), _WEAK_CAT[np.argmax(weak, axis=1)], out)
    out = np.where(strong.max(axis=1, initial=0) > 0, _STRONG_CAT[np.argmax(strong, axis=1)], out)
    return [_CATS[i] for i in out.tolist()]


def line_category(line: str, in_list: bool = False) -> Cat:
    """``categorise`` of one line of text, its words counted as ``WORD_RE`` words."""
    strong, weak = line_hits(line)
    return categorise(strong[None, :], weak[None, :], np.array([len(WORD_RE.findall(line))]), np.array([in_list]))[0]


# A comment's signature: "jane says:", "John Smith wrote:", "Reply", "Log in to Reply", "34 responses to “...”".
# Three of them within 30 lines make a comment thread (``text.comment_thread_start``); a line that merely ends
# with "said:" in a story does not. The features use a looser form (``SIGNATURE_RE``) behind a prefilter
# derived from the same words: a line's last word starting like a verb of saying, or its first five characters
# like a reply button.
SAYING_VERBS = ("says", "said", "wrote", "writes", "dice", "disse", r"escribi[óo]", "schreibt", "schrieb",
                "a écrit", "a ecrit", "pisze", "пишет", r"написал\w*")
REPLY_WORDS = ("reply", "responder", "répondre", "repondre", "antworten", "rispondi", "ответить", "log in to reply")
_LOOSE_REPLY_WORDS = ("report", "flag", "like", "permalink")  # the looser signature's buttons (and "\d+ likes?")
SAYING = "(?:" + "|".join(SAYING_VERBS) + ")"
REPLY = "|".join(REPLY_WORDS)
COUNTED = r"(?:comments?|responses?|replies|thoughts|coment[áa]rios?|commentaires?|kommentare?|commenti|комментари\w*)"
COMMENT_SIGNATURE = re.compile(
    rf"^(?:.{{1,60}}\s{SAYING}\s*:|(?:{REPLY}|reply to this comment)|\d+\s+{COUNTED}(?:\s+(?:on|to|em|en|sur|zu|su)\b.*)?)$",
    _I,
)
_LOOSE_BUTTONS = "|".join((REPLY, *_LOOSE_REPLY_WORDS, r"\d+ likes?"))
_LOOSE_SIGNATURE = (  # COMMENT_SIGNATURE, looser: also "Like", "Report", times of day
    rf"^(?:.{{1,60}}\s{SAYING}\s*:?|(?:{_LOOSE_BUTTONS})|\d+\s+{COUNTED}\b.*|"
    r".{0,40}\b\d{1,2}:\d{2}\s*(?:[ap]\.?m\.?)?)$"
)
# searched in one candidate line at a time (\s kept within a line, as in the vocabulary patterns)
SIGNATURE_RE = re.compile(_LOOSE_SIGNATURE.replace(r"\s", r"[^\S\n]"), re.IGNORECASE | re.MULTILINE)
_LITERAL_RE = re.compile(r"[^\\\[\](){}?*+.|]+")
# a verb's last word up to its first regex character ("escribi[óo]" -> "escribi")
SAYING_STEMS = tuple(_LITERAL_RE.match(verb).group().split()[-1] for verb in SAYING_VERBS)
REPLY_HEAD_LEN = 5
REPLY_HEADS = frozenset(w[:REPLY_HEAD_LEN] for w in (*REPLY_WORDS, *_LOOSE_REPLY_WORDS))


def may_be_signature(last_word: str, head: str) -> bool:
    """Whether a short line whose last word (lower-cased) and first five characters (lower-cased) are these can
    be a signature line without a digit or a final colon (the prefilter of ``SIGNATURE_RE``)."""
    return last_word.startswith(SAYING_STEMS) or head in REPLY_HEADS
