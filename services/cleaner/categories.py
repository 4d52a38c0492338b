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


def strong_category(line: str) -> Cat | None:
    if not may_match([w.lower() for w in _WORD_RE.findall(line)], line):
        return None
    for cat, pattern in STRONG:
        if pattern.search(line):
            return cat
    return None


def weak_categories(line: str) -> list[Cat]:
    if not may_match([w.lower() for w in _WORD_RE.findall(line)], line):
        return []
    return [cat for cat, pattern in WEAK if pattern.search(line)]


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


# First four letters of every word some pattern above needs: a line with none of them (and no ©) cannot match,
# so the regexes only run on the few lines that might (keep this in step with the patterns).
TRIGGER_PREFIXES = frozenset(
    "publ agen auto synd edit wire only feed cook cons gdpr subs than sign ente vali emai mail news inbo neve stay "
    "assi susc abon jetz iscr regi app apps down get inst try goog baix desc mobi shar foll clic face twit comp part "
    "teil cond twee what link pint redd tele flip yout prin rss like join read also see you more rela reco most tren "
    "top late leia lee lire mehr legg stor next adve spon ad ads anún anze pubb paid adch choi prom all righ c copy "
    "term priv todo tous alle tutt poli disc rese leav post add view show load comm repl conv skip menu home sear "
    "log logi logo prev back clos togg main cont abou care site sect".split()
)


def may_match(lower_words: list[str], text: str) -> bool:
    return "©" in text or any(w[:4] in TRIGGER_PREFIXES for w in lower_words)
