"""Boilerplate vocabulary: which category a removed line or block belongs to, and the lexical cues of the model.

The patterns are general call-to-action and page-furniture vocabulary (mostly English, with the commonest
Portuguese, Spanish, French, German and Italian equivalents), never phrases, names or ids of given sites.
Two strengths:

- ``WEAK``: a word that boilerplate uses but stories use too ("share", "app", "comments"): a model feature and
  the label of a removed line, never a reason to remove by itself;
- ``STRONG``: a phrase stories almost never contain ("subscribe to", "enter a valid email", "all rights
  reserved", "published without modification"): a short line that has one is removed whatever the model says.
"""

from __future__ import annotations

import re

from schemas.messages import BoilerplateCategory as Cat

_I = re.IGNORECASE | re.UNICODE
_WORD_RE = re.compile(r"\w+", re.UNICODE)

# Order matters: the first category whose pattern matches names the line.
STRONG: tuple[tuple[Cat, re.Pattern[str]], ...] = tuple(
    (cat, re.compile(pattern, _I))
    for cat, pattern in (
        (Cat.feed_notice, r"published without modification|(?:wire|news) agency feed|auto-?generated from a "
                          r"syndicated|syndicated feed|has not been edited by|from a (?:wire|syndicated) (?:agency|feed)"
                          r"|only the (?:headline|image) (?:has|may have) been (?:changed|reworked)"),
        (Cat.cookie_consent, r"\bwe use cookies\b|\buses? cookies\b|\bcookie (?:policy|settings|preferences)\b|"
                             r"\baccept (?:all )?cookies\b|\bmanage (?:your )?consent\b|\bconsent preferences\b"),
        (Cat.newsletter, r"\bsubscrib(?:e|ing) (?:to|for|now|today)\b|\bthank(?:s| you) for subscribing\b|"
                         r"\bsign(?:ing)? up (?:for|to|now|today)\b|\benter (?:a |your )?(?:valid )?e-?mail\b|"
                         r"\bvalid e-?mail\b|\byour e-?mail address\b|\bnewsletters?\b.{0,40}\b(?:sign|subscri|inbox)|"
                         r"\b(?:in|to) your inbox\b|\bnever miss (?:a|an|the|another) (?:story|update|thing|article)\b|"
                         r"\bstay (?:connected|informed|updated|up to date)\b|\bassine (?:a|o|já)\b|"
                         r"\bsuscr[ií]bete\b|\babonnez-vous\b|\bjetzt abonnieren\b|\biscriviti\b"),
        (Cat.app_promotion, r"\b(?:download|get|install|try) (?:the |our )?(?:\w+ )?app\b|\bour app\b|\bapp now\b|"
                            r"\bapp store\b|\bgoogle play\b|\bbaixe o app\b|\bdescarga la app\b"),
        (Cat.share_social, r"\bshare (?:this|on|via|the story|article)\b|\bfollow us\b|\bfollow \w+ on "
                           r"(?:facebook|twitter|instagram|linkedin)\b|\bclick to share\b|\bshare this\b|"
                           r"\b(?:like|join) us on (?:facebook|twitter|instagram)\b|\bcompartilhe\b|\bcompartir\b|"
                           r"\bpartager\b|\bteilen\b|\bcondividi\b"),
        (Cat.related_links, r"^(?:also )?read (?:more|also|next)\b|\bread more\b|\balso read\b|\bsee also\b|"
                            r"\byou (?:may|might) (?:also )?(?:like|enjoy|be interested)\b|\bmore (?:stories|news) "
                            r"(?:from|on|about)\b|^(?:related|recommended|most (?:read|popular|viewed)|trending|"
                            r"top stories|latest (?:news|stories)|more from)\b|\bleia (?:também|mais)\b|"
                            r"\blee también\b|\blire aussi\b|\bmehr zum thema\b|\bleggi anche\b"),
        (Cat.advertising, r"^(?:advertisement|advertising|sponsored|ad|anúncio|publicidad|publicité|anzeige|"
                          r"pubblicità)\s*$|\bsponsored content\b|\bpaid (?:post|content)\b|\bad ?choices\b"),
        (Cat.legal, r"\ball rights reserved\b|©|\(c\) ?\d{4}|\bcopyright\b.{0,20}\d{4}|\bterms (?:of|and) "
                    r"(?:use|service|conditions)\b|\bprivacy (?:policy|notice)\b|\btodos os direitos\b|"
                    r"\btodos los derechos\b|\btous droits\b|\balle rechte\b|\btutti i diritti\b"),
        (Cat.comments, r"\b(?:leave|post|add|view|show|load) (?:a |your |all )?comments?\b|\bcomments? "
                       r"(?:are|is) closed\b|\bjoin the (?:discussion|conversation)\b|\blog ?in to (?:comment|reply)\b|"
                       r"^\d+\s+comments?$"),
        (Cat.navigation, r"^(?:skip to (?:main )?content|menu|home|search|sign in|log ?in|log ?out|next|previous|"
                         r"back to top|close|toggle navigation|main menu)\s*$"),
    )
)

WEAK: tuple[tuple[Cat, re.Pattern[str]], ...] = tuple(
    (cat, re.compile(pattern, _I))
    for cat, pattern in (
        (Cat.feed_notice, r"\b(?:feed|wire|agency|syndicat\w*)\b"),
        (Cat.cookie_consent, r"\bcookies?\b|\bconsent\b|\bgdpr\b"),
        (Cat.newsletter, r"\bnewsletters?\b|\bsubscri\w+|\be-?mail\b|\bsign ?up\b|\binbox\b|\bregister\b"),
        (Cat.app_promotion, r"\bapps?\b|\bdownload\b|\bmobile\b"),
        (Cat.share_social, r"\b(?:share|tweet|facebook|twitter|whatsapp|linkedin|pinterest|reddit|instagram|"
                           r"telegram|flipboard|youtube|print|rss)\b"),
        (Cat.related_links, r"\b(?:related|recommended|read|more|popular|trending|latest|stories|next)\b"),
        (Cat.advertising, r"\b(?:advert\w*|sponsor\w*|promot\w*|ads?)\b"),
        (Cat.legal, r"\b(?:copyright|rights|privacy|terms|policy|disclaimer|reserved)\b"),
        (Cat.comments, r"\b(?:comments?|reply|replies|discussion)\b"),
        (Cat.navigation, r"\b(?:home|menu|search|login|sign in|contact|about us|careers|sitemap|section)\b"),
    )
)

CATEGORY_INDEX = {cat: i for i, cat in enumerate(Cat)}


# First four letters of the words each category's patterns need (a line with none of them cannot match, so the
# regexes only run on the few lines that might; keep these in step with the patterns above).
_STRONG_PREFIXES = {
    Cat.feed_notice: "publ agen auto synd edit wire only feed news",
    Cat.cookie_consent: "cook cons",
    Cat.newsletter: "subs than sign ente vali emai mail news inbo neve stay assi susc abon jetz iscr",
    Cat.app_promotion: "app goog",
    Cat.share_social: "shar foll clic like join comp part teil cond",
    Cat.related_links: "read also see you more rela reco most tren top late leia lee lire mehr legg",
    Cat.advertising: "adve spon ad anún publ anze pubb paid adch choi",
    Cat.legal: "all c copy term priv todo tous alle tutt",
    Cat.comments: "comm join disc conv",
    Cat.navigation: "skip menu home sear sign log logi logo next prev back clos togg main",
}
_WEAK_PREFIXES = {
    Cat.feed_notice: "feed wire agen synd",
    Cat.cookie_consent: "cook cons gdpr",
    Cat.newsletter: "news subs emai mail sign inbo regi",
    Cat.app_promotion: "app apps down mobi",
    Cat.share_social: "shar twee face twit what link pint redd inst tele flip yout prin rss",
    Cat.related_links: "rela reco read more popu tren late stor next",
    Cat.advertising: "adve spon prom ad ads",
    Cat.legal: "copy righ priv term poli disc rese",
    Cat.comments: "comm repl disc",
    Cat.navigation: "home menu sear logi sign cont abou care site sect",
}
STRONG_PREFIXES = tuple(frozenset(_STRONG_PREFIXES[cat].split()) for cat, _ in STRONG)
WEAK_PREFIXES = tuple(frozenset(_WEAK_PREFIXES[cat].split()) for cat, _ in WEAK)
TRIGGER_PREFIXES = frozenset().union(*STRONG_PREFIXES, *WEAK_PREFIXES)


def prefixes_of(text: str) -> set[str]:
    prefixes = {w.lower()[:4] for w in _WORD_RE.findall(text)}
    if "©" in text:
        prefixes.add("c")
    return prefixes


def strong_index(prefixes: set[str], text: str) -> int:
    """Index in STRONG of the first strong pattern the line matches, or -1."""
    if TRIGGER_PREFIXES.isdisjoint(prefixes):
        return -1
    for i, (_, pattern) in enumerate(STRONG):
        if not STRONG_PREFIXES[i].isdisjoint(prefixes) and pattern.search(text):
            return i
    return -1


def weak_indexes(prefixes: set[str], text: str) -> list[int]:
    if TRIGGER_PREFIXES.isdisjoint(prefixes):
        return []
    return [i for i, (_, pattern) in enumerate(WEAK) if not WEAK_PREFIXES[i].isdisjoint(prefixes)
            and pattern.search(text)]


def strong_category(line: str) -> Cat | None:
    i = strong_index(prefixes_of(line), line)
    return STRONG[i][0] if i >= 0 else None


def weak_categories(line: str) -> list[Cat]:
    return [WEAK[i][0] for i in weak_indexes(prefixes_of(line), line)]


def categorise(line: str, n_words: int, in_list: bool) -> Cat:
    """Why a removed line was removed: its strongest cue, else navigation for a short list item, else other."""
    cat = strong_category(line)
    if cat is not None:
        return cat
    weak = weak_categories(line) if n_words <= 12 else []
    if weak:
        return weak[0]
    if in_list and n_words <= 6:
        return Cat.navigation
    return Cat.other


# A comment's signature: "jane says:", "John Smith wrote:", "Reply", "Log in to Reply", "34 responses to “...”".
# Three of them within 30 lines make a comment thread (``extract.comment_thread_start``); a line that merely
# ends with "said:" in a story does not. The pieces are shared with the looser feature of ``lines.py``.
SAYING = r"(?:says|said|wrote|writes|dice|disse|escribi[óo]|schreibt|schrieb|a [ée]crit|pisze|пишет|написал\w*)"
REPLY = r"reply|responder|r[ée]pondre|antworten|rispondi|ответить|log in to reply"
COUNTED = r"(?:comments?|responses?|replies|thoughts|coment[áa]rios?|commentaires?|kommentare?|commenti|комментари\w*)"
COMMENT_SIGNATURE = re.compile(
    rf"^(?:.{{1,60}}\s{SAYING}\s*:|(?:{REPLY}|reply to this comment)|\d+\s+{COUNTED}(?:\s+(?:on|to|em|en|sur|zu|su)\b.*)?)$",
    _I,
)
