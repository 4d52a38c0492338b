"""HTML mode: the page's main content, then the line classifier on it, and what was removed, by category.

1. The page is parsed once (lxml, with trafilatura's loader's repairs and parser settings; ``_parse``).
2. Page furniture is counted by category from the tree: ``nav``/``footer``/``aside``/``form`` elements and
   elements whose class or id names a kind of boilerplate (share, cookie, newsletter, related, comments, ad...);
   only the outermost element of a category counts.
3. trafilatura in fast mode (no readability/justext fallbacks) extracts the main content from the same tree.
4. The HTML-mode line classifier (``model/html.json``, same features as text mode, trained on trafilatura's
   output) removes the boilerplate lines trafilatura left in (bylines, captions, newsletter prompts, "read
   more" links...); short lines with strong boilerplate vocabulary go whatever the model says.
5. Should trafilatura find nothing, the page flattened to text goes through text mode instead.
6. The article's metadata (``meta.page_meta``) is read from the same tree before step 3, completed by the body
   lines' byline/"Published" lines (``textmeta.text_meta``: they leave the body, counted as ``metadata``) and
   then by htmldate's fast search for a date; the title is cut from the start of the body (``without_title``).

Between 3 and 4, an article that trafilatura cut short is completed: pages that split their story into several
containers of the same kind (``<div class="body__container">`` chunks between ads) make trafilatura keep the
first chunk only. Paragraphs after the last one it kept, in containers of the same kind (same tag and class for
three ancestors) as at least two paragraphs it kept, are added back (``complete_truncated``).

Imports text mode (its line classifier, and the page as text when the extraction fails), never the reverse.
Pure and thread-safe; a page that cannot be parsed (no tree) gives ``EMPTY``, and any other exception is a bug
and propagates (the step's runner reports it as ``processing_error``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import datetime
from functools import lru_cache

import html_text
import lxml.html
import numpy as np
import trafilatura
from lxml import etree
from trafilatura.utils import repair_faulty_html

from schemas.messages import BoilerplateCategory as Cat
from services.cleaner import features as F
from services.cleaner import meta, textmeta
from services.cleaner.model import HTML_MODEL_PATH, load_model
from services.cleaner.text import EMPTY, Cleaned, classify_lines, clean_text, join_lines
from services.cleaner.vocabulary import WORD_RE

MAX_HTML_BYTES = 20_000_000
_TITLE_RE = re.compile(r"\s+")

# class/id tokens naming page furniture, by category (checked in this order).
_ATTR_CATEGORIES: tuple[tuple[Cat, re.Pattern[str]], ...] = tuple(
    (cat, re.compile(pattern, re.IGNORECASE))
    for cat, pattern in (
        (Cat.cookie_consent, r"cookie|consent|gdpr"),
        (Cat.newsletter, r"newsletter|subscri|signup|sign-up|mailing"),
        (Cat.app_promotion, r"app-?(?:promo|banner|download)|smartbanner"),
        (Cat.share_social, r"share|sharing|social|follow"),
        (Cat.related_links, r"related|recommend|read-?more|more-?stories|trending|popular|outbrain|taboola"),
        (Cat.comments, r"comment|disqus|discussion"),
        (Cat.advertising, r"(?:^|[\s_-])ads?(?:$|[\s_-])|advert|sponsor|dfp|banner-ad|ad-slot|adslot"),
        (Cat.legal, r"copyright|legal|disclaimer"),
        (Cat.navigation, r"(?:^|[\s_-])nav|menu|breadcrumb|masthead|header"),
    )
)
# One pass over the lower-cased "class id" strings; the named group says the category.
_ATTR_RE = re.compile("|".join(f"(?P<c{i}>{p.pattern})" for i, (_, p) in enumerate(_ATTR_CATEGORIES)))
_TAG_CATEGORIES = {"nav": Cat.navigation, "footer": Cat.legal, "aside": Cat.related_links, "form": Cat.newsletter}
_FURNITURE_XPATH = etree.XPath("//nav|//footer|//aside|//form|//div[@class or @id]|//section[@class or @id]|"
                               "//ul[@class or @id]|//header[@class or @id]")
_TITLE_XPATHS = tuple(etree.XPath(path) for path in ("//meta[@property='og:title']/@content", "//h1//text()",
                                                     "//title//text()"))


def _element_category(el) -> Cat | None:
    cat = _TAG_CATEGORIES.get(el.tag) if isinstance(el.tag, str) else None
    if cat is not None:
        return cat
    return _attr_category(f"{el.get('class', '')} {el.get('id', '')}")


@lru_cache(maxsize=8192)
def _attr_category(names: str) -> Cat | None:
    """Category named by a "class id" string (pages repeat the same few class names: cached)."""
    m = _ATTR_RE.search(names.lower())
    return _ATTR_CATEGORIES[int(m.lastgroup[1:])][0] if m else None


def count_furniture(tree) -> Counter:
    """Outermost page-furniture elements, by category (a nested element of the same category is not counted).

    The xpath returns elements in document order, so an element is nested in an earlier one of its category
    iff it is inside the last one counted for that category: one ancestor check, not a search of all of them."""
    counted: Counter = Counter()
    outermost: dict[Cat, object] = {}
    for el in _FURNITURE_XPATH(tree):
        cat = _element_category(el)
        if cat is None:
            continue
        last = outermost.get(cat)
        if last is not None and any(anc is last for anc in el.iterancestors()):
            continue
        counted[cat] += 1
        outermost[cat] = el
    return counted


def _title(tree) -> str | None:
    for xpath in _TITLE_XPATHS:
        found = xpath(tree)
        if found:
            text = _TITLE_RE.sub(" ", " ".join(str(t) for t in found)).strip()
            if text:
                return text[:500]
    return None


# trafilatura's parser settings (trafilatura.utils.HTML_PARSER), but with element classes looked up in C: lxml.html's parser calls a Python
# method for every element that gets a Python proxy (thousands a page in trafilatura's passes); this one gives
# every element the plain ``HtmlElement`` class (no ``FormElement`` etc., which nothing here uses).
_PARSER = etree.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                           remove_pis=True)
_PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(
    element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment, pi=lxml.html.HtmlProcessingInstruction,
    entity=lxml.html.HtmlEntity))


def _parse(html: str):
    """The page's tree, as ``trafilatura.load_html`` (2.3) parses a string, with ``_PARSER``."""
    if not html or not html.strip() or len(html) > MAX_HTML_BYTES:
        return None
    html = html.replace("\x00", "")
    beginning = html[:50].lower()
    html = repair_faulty_html(html, beginning)
    try:
        tree = lxml.html.fromstring(html, parser=_PARSER)
    except ValueError:  # a string with an encoding declaration: parse its UTF-8 bytes
        tree, retried = _parse_bytes(html), True
    except Exception:  # noqa: BLE001 - as trafilatura: an unparsable page has no tree
        tree, retried = None, False
    else:
        retried = False
    if (tree is None or len(tree) < 1) and not retried:
        tree = _parse_bytes(html)
    if tree is not None and "html" not in beginning and len(tree) < 2:
        return None  # not HTML (trafilatura's check of a dubious document)
    return tree


def _parse_bytes(html: str):
    try:
        return lxml.html.fromstring(html.encode("utf8", "surrogatepass"), parser=_PARSER)
    except Exception:  # noqa: BLE001
        return None


def main_content(html: str, tree=None) -> tuple[str, object]:
    """trafilatura's fast extraction of the main content (and the parsed tree)."""
    tree = tree if tree is not None else _parse(html)
    if tree is None:
        return "", None
    text = trafilatura.extract(tree, include_comments=False, fast=True, deduplicate=False) or ""
    return text, tree


_PARAGRAPHS = etree.XPath("//p")
_SPACE_RE = re.compile(r"\s+")
TRUNCATION_MIN_WORDS = 12  # a paragraph this long or longer is prose, not a caption or a button
TRUNCATION_MIN_ADDED = 2  # paragraphs, and
TRUNCATION_MIN_ADDED_WORDS = 100  # words: less than that left out is trafilatura's choice, not a cut


def _container_kind(el, depth: int = 3) -> tuple:
    kind = []
    for anc in el.iterancestors():
        kind.append((anc.tag, anc.get("class") or ""))
        if len(kind) == depth:
            break
    return tuple(kind)


def _trigrams(tokens: list[str]) -> set[tuple[str, ...]]:
    return set(zip(tokens, tokens[1:], tokens[2:]))


def complete_truncated(tree, text: str) -> tuple[str, int]:
    """``text`` with the paragraphs trafilatura cut off the end of a chunked article, and how many were added.

    A page paragraph counts as extracted when half its word trigrams are in ``text`` (trafilatura rewrites
    whitespace and some characters, so exact matching would not do)."""
    extracted = _trigrams(WORD_RE.findall(text))
    if not extracted:
        return text, 0

    def prose(p) -> tuple[str, list[str]]:
        body = _SPACE_RE.sub(" ", "".join(p.itertext())).strip()
        return body, WORD_RE.findall(body)

    def was_extracted(tokens: list[str]) -> bool:
        grams = _trigrams(tokens)
        return len(grams & extracted) * 2 >= len(grams)

    # From the end of the page back to the last paragraph trafilatura kept (most pages: a few footer
    # paragraphs), then on back only as far as needed to find two kept paragraphs of each kind seen after it.
    paragraphs = _PARAGRAPHS(tree)
    cut: list[tuple[str, int, tuple]] = []  # (text, words, container kind), from the end
    i = len(paragraphs) - 1
    while i >= 0:
        body, tokens = prose(paragraphs[i])
        i -= 1
        if len(tokens) < TRUNCATION_MIN_WORDS:
            continue
        if was_extracted(tokens):
            break
        cut.append((body, len(tokens), _container_kind(paragraphs[i + 1])))
    else:
        return text, 0  # trafilatura kept none of the page's paragraphs
    last_kind = _container_kind(paragraphs[i + 1])
    wanted = {kind for _, _, kind in cut}
    kept: Counter = Counter({last_kind: 1})
    while i >= 0 and any(kept[kind] < 2 for kind in wanted):
        kind = _container_kind(paragraphs[i])
        i -= 1
        if kind in wanted and kept[kind] < 2:
            _, tokens = prose(paragraphs[i + 1])
            if len(tokens) >= TRUNCATION_MIN_WORDS and was_extracted(tokens):
                kept[kind] += 1
    added = [(body, words) for body, words, kind in reversed(cut) if kept[kind] >= 2]
    if len(added) < TRUNCATION_MIN_ADDED or sum(words for _, words in added) < TRUNCATION_MIN_ADDED_WORDS:
        return text, 0
    return text.rstrip() + "\n\n" + "\n\n".join(body for body, _ in added), len(added)


MENU_MIN_LINES = 100  # a fast extraction this long and mostly not sentences is likely a menu, not an article
MENU_MAX_PROSE = 0.25  # share of its words in sentence-like lines


def prose_share(lines: list[F.Line], stopwords: frozenset[str]) -> float:
    """Share of the words in sentence-like lines (a navigation list: many short items, no sentences)."""
    return _prose_share(F.features(lines, stopwords))


def _prose_share(x: np.ndarray) -> float:
    words = x[:, F.N_WORDS]
    return float((words * (x[:, F.SENTENCE_LIKE] > 0)).sum() / max(words.sum(), 1.0))


def _reads_like_a_menu(x: np.ndarray) -> float | None:
    """The prose share of a long extraction (its lines' features ``x``) that reads like a navigation list (None:
    it does not)."""
    if x.shape[0] < MENU_MIN_LINES:
        return None
    share = _prose_share(x)
    return share if share < MENU_MAX_PROSE else None


def clean_html(html: str, url: str | None = None, now: datetime | None = None):
    tree = _parse(html)
    if tree is None:
        return EMPTY
    removed = count_furniture(tree)
    page = meta.page_meta(tree, url, now=now, htmldate_fallback=False)  # before trafilatura works on the tree
    title = page.title or _title(tree)
    text, _ = main_content(html, tree)
    text, _ = complete_truncated(tree, text)
    lines = F.split_lines(text)
    model = load_model(str(HTML_MODEL_PATH))
    # the lines' features, once for both the menu check and the line classifier
    x = F.features(lines, model["stopwords"]) if model is not None and lines else None
    menu_share = _reads_like_a_menu(x) if x is not None else None
    if menu_share is not None:
        # trafilatura returned a navigation list: clean the whole page as text instead, if that reads
        # clearly more like prose
        fallback = clean_text(html_text.extract_text(tree))
        fallback_lines = F.split_lines(fallback.text)
        if fallback_lines and prose_share(fallback_lines, model["stopwords"]) > menu_share + 0.2:
            removed.update(fallback.removed)
            title = title or fallback.title
            body = without_title(fallback.text, title)
            return Cleaned(text=body, title=title, removed={c: n for c, n in removed.items() if n > 0},
                           meta=_complete(page, fallback.meta, tree, url, now, body))
    found, meta_lines = textmeta.text_meta([line.text for line in lines], now)
    if lines:
        keep, dropped = classify_lines(lines, model, x=x, meta_lines=meta_lines)
        kept = [line for line, k in zip(lines, keep) if k]
        removed.update(dropped)
        body = join_lines(kept)
    else:
        body = ""
    if not body:  # nothing found as main content: fall back to the page as text, cleaned as text
        fallback = clean_text(html_text.extract_text(tree))
        title = title or fallback.title
        # the page's <title> is flattened into that text too: it is the title, not an article
        body = "\n\n".join(part for part in fallback.text.split("\n\n") if _SPACE_RE.sub(" ", part).strip() != title)
        removed.update(fallback.removed)
        found = {**fallback.meta.article_fields(), **found}
    body = without_title(body, title)
    return Cleaned(text=body, title=title, removed={c: n for c, n in removed.items() if n > 0},
                   meta=_complete(page, found, tree, url, now, body))


def without_title(body: str, title: str | None) -> str:
    """``body`` without its first paragraph when that paragraph is the title: the text never repeats the title
    (in both modes the title is returned apart, as ``title``)."""
    if not title or not body:
        return body
    wanted = _SPACE_RE.sub(" ", title).strip().casefold()
    for _ in range(2):  # the h1, and a page's own repetition of it
        first, sep, rest = body.partition("\n\n")
        head, _, tail = first.partition("\n")
        if _SPACE_RE.sub(" ", head).strip().casefold() != wanted or not (tail or rest):
            break
        body = tail + sep + rest if tail else rest
    return body


def _complete(page, found, tree, url: str | None, now: datetime | None, body: str):
    """The page's metadata, completed by what its body lines say (``found``: field values, or a PageMeta) where
    the markup said nothing, then by htmldate's search of the page for a date; the language checked against
    the body."""
    if not isinstance(found, dict):
        found = found.article_fields()
    fill = {k: v for k, v in found.items() if v and not getattr(page, k) and k != "language"}
    published = fill.pop("published_at", None) or page.published_at
    if published is None:
        published = meta.htmldate_date(tree, url, textmeta.date_limits(now))
    return replace(page, **fill, published_at=published, language=textmeta.check_language(page.language, body))
