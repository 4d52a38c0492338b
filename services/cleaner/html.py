"""HTML mode: the page's main content, then the line classifier on it, and what was removed, by category.

1. The page is parsed once (lxml, through trafilatura's loader, which copes with odd encodings and markup).
2. Page furniture is counted by category from the tree: ``nav``/``footer``/``aside``/``form`` elements and
   elements whose class or id names a kind of boilerplate (share, cookie, newsletter, related, comments, ad...);
   only the outermost element of a category counts.
3. trafilatura in fast mode (no readability/justext fallbacks) extracts the main content from the same tree.
4. The HTML-mode line classifier (``model/html.json``, same features as text mode, trained on trafilatura's
   output) removes the boilerplate lines trafilatura left in (bylines, captions, newsletter prompts, "read
   more" links...); short lines with strong boilerplate vocabulary go whatever the model says.
5. Should trafilatura find nothing, the page flattened to text goes through text mode instead.
"""

from __future__ import annotations

import re
from collections import Counter

from schemas.messages import BoilerplateCategory as Cat
from services.cleaner import lines as L

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
_ATTR_RE = re.compile("|".join(f"(?P<c{i}>{p.pattern})" for i, (_, p) in enumerate(_ATTR_CATEGORIES)),
                      re.IGNORECASE)
_TAG_CATEGORIES = {"nav": Cat.navigation, "footer": Cat.legal, "aside": Cat.related_links, "form": Cat.newsletter}
_FURNITURE_XPATH = "//nav|//footer|//aside|//form|//*[@class or @id][self::div or self::section or self::ul or self::aside or self::header]"


def _element_category(el) -> Cat | None:
    cat = _TAG_CATEGORIES.get(el.tag) if isinstance(el.tag, str) else None
    if cat is not None:
        return cat
    m = _ATTR_RE.search(f"{el.get('class', '')} {el.get('id', '')}")
    return _ATTR_CATEGORIES[int(m.lastgroup[1:])][0] if m else None


def count_furniture(tree) -> Counter:
    """Outermost page-furniture elements, by category (a nested element of the same category is not counted)."""
    counted: Counter = Counter()
    marked: dict[int, Cat] = {}
    for el in tree.xpath(_FURNITURE_XPATH):
        cat = _element_category(el)
        if cat is None:
            continue
        marked[id(el)] = cat
        parent = el.getparent()
        nested = False
        while parent is not None:
            if marked.get(id(parent)) is cat:
                nested = True
                break
            parent = parent.getparent()
        if not nested:
            counted[cat] += 1
    return counted


def _title(tree) -> str | None:
    for path in ("//meta[@property='og:title']/@content", "//h1//text()", "//title//text()"):
        found = tree.xpath(path)
        if found:
            text = _TITLE_RE.sub(" ", " ".join(str(t) for t in found)).strip()
            if text:
                return text[:500]
    return None


def _parse(html: str):
    import trafilatura

    if not html or not html.strip() or len(html) > MAX_HTML_BYTES:
        return None
    return trafilatura.load_html(html.replace("\x00", ""))


def main_content(html: str, tree=None) -> tuple[str, object]:
    """trafilatura's fast extraction of the main content (and the parsed tree)."""
    import trafilatura

    tree = tree if tree is not None else _parse(html)
    if tree is None:
        return "", None
    text = trafilatura.extract(tree, include_comments=False, fast=True, deduplicate=False) or ""
    return text, tree


def clean_html(html: str):
    from services.cleaner.extract import EMPTY, Cleaned, _join, clean_text, classify_lines

    tree = _parse(html)
    if tree is None:
        return EMPTY
    removed = count_furniture(tree)
    title = _title(tree)
    text, _ = main_content(html, tree)
    lines = L.split_lines(text)
    if lines:
        keep, dropped = classify_lines(lines, L.load_model(str(L.HTML_MODEL_PATH)))
        kept = [line for line, k in zip(lines, keep) if k]
        removed.update(dropped)
        body = _join(kept)
    else:
        body = ""
    if not body:  # nothing found as main content: fall back to the page as text, cleaned as text
        import html_text

        fallback = clean_text(html_text.extract_text(tree))
        body = fallback.text
        removed.update(fallback.removed)
        title = title or fallback.title
    return Cleaned(text=body, title=title, removed={c: n for c, n in removed.items() if n > 0})
