"""What an HTML page says about its article: dates, authors, canonical URL, site, description, image, language,
section, tags and title (pure; reads the tree ``html._parse`` built, never changes it).

Sources, best first (the first that gives a sane value wins; its name is the value's provenance):

    published_at  meta:<name> (article:published_time, datePublished, pubdate, ...; before JSON-LD, as
                  htmldate reads them: 769 vs 760 right days on the dev set) > jsonld:datePublished >
                  time[itemprop=datePublished] / time[pubdate] > jsonld:dateCreated; a full date in the URL
                  (/2024/03/05/) wins over those when its day differs (it is set once, at publication); else
                  htmldate (its fast mode on the same tree: abbr/time elements, the page's text)
    modified_at   jsonld:dateModified > meta:article:modified_time (og:updated_time, dateModified, ...)
    authors       jsonld:author (persons only; an @id looked up in the @graph) > <meta> (article:author,
                  dc.creator, parsely-author, ...) > the page's byline element (trafilatura's author XPaths:
                  rel=author, itemprop=author, class "author"/"byline"; not in comments, sidebars, figures) >
                  <meta name="author"> (last: many sites put their owner there; a full name only), cleaned by
                  ``textmeta.split_authors`` (no "By", roles, e-mails, agencies: an agency goes to ``agency``);
                  the site's name, its publisher and its host name are never authors
    canonical_url link[rel=canonical] > og:url > jsonld:url, resolved against the page's URL, tracking
                  parameters (utm_*, fbclid, gclid...) removed (courlan)
    site_name     og:site_name > jsonld publisher.name > application-name
    description   og:description > meta description > jsonld:description
    image         og:image > twitter:image > jsonld:image
    language      html[lang] > meta content-language > og:locale > jsonld:inLanguage, checked against the text
                  (``textmeta.check_language``)
    section, tags article:section / jsonld:articleSection; article:tag / news_keywords / keywords / jsonld:keywords
    title         jsonld:headline / og:title / h1 / <title>: the h1 when another source confirms it, else the
                  og:title or <title> with the site's name cut off (" | Site", " - Site")

Bad input gives no value, never an exception: broken JSON-LD is repaired where it can be (comments, trailing
commas, raw newlines) or skipped; a date before 1995 or more than a day after ``now`` is not a publication date;
a byline of thousands of names gives at most ``textmeta.MAX_AUTHORS``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import datetime
from urllib.parse import urlsplit

from lxml import etree

from schemas.messages import PageDate
from services.cleaner import textmeta as T

MAX_JSONLD_CHARS = 500_000  # a script this long is data, not article metadata
MAX_FIELD_CHARS = 1000

ARTICLE_TYPES = frozenset(
    t.lower() for t in ("Article", "NewsArticle", "BlogPosting", "Report", "ReportageNewsArticle",
                        "AnalysisNewsArticle",
                        "OpinionNewsArticle", "ReviewNewsArticle", "BackgroundNewsArticle", "LiveBlogPosting",
                        "ScholarlyArticle", "TechArticle", "PressRelease")
)
# objects that stand for the article when no article object does (a video page, a forum post)
SECONDARY_TYPES = frozenset(t.lower() for t in ("SocialMediaPosting", "Blog", "VideoObject", "Posting",
                                                 "DiscussionForumPosting", "Review", "Recipe", "HowTo"))
PAGE_TYPES = frozenset(t.lower() for t in ("WebPage", "ItemPage", "AboutPage", "CollectionPage", "Event"))

# <meta> keys (name, property or itemprop, lower-cased), best first
PUBLISHED_KEYS = (
    "article:published_time", "og:article:published_time", "article:published", "datepublished",
    "og:published_time", "published_time", "article.published", "parsely-pub-date", "sailthru.date",
    "dc.date.issued", "dcterms.issued", "dc.date.created", "dcterms.created", "dc.date", "dcterms.date",
    "citation_publication_date", "citation_date", "pubdate", "publishdate", "publish-date", "publish_date",
    "publication_date", "date_published", "originalpublicationdate", "article_date_original", "date",
    "cxenseparse:recs:publishtime", "og:pubdate", "bt:pubdate", "release_date", "created", "datecreated",
)
MODIFIED_KEYS = (
    "article:modified_time", "og:article:modified_time", "datemodified", "og:updated_time", "article:modified",
    "dc.date.modified", "dcterms.modified", "last-modified", "lastmod", "modified_time", "updated_time",
)
AUTHOR_KEYS = ("article:author", "dc.creator", "dcterms.creator", "parsely-author", "sailthru.author",
               "byl", "citation_author", "og:article:author", "book:author", "cxenseparse:author", "creator")
SITE_KEYS = ("og:site_name", "application-name", "twitter:site")
DESCRIPTION_KEYS = ("og:description", "description", "twitter:description", "dc.description")
IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src", "thumbnail")
SECTION_KEYS = ("article:section", "og:article:section", "section", "parsely-section", "category")
TAG_KEYS = ("article:tag", "og:article:tag", "news_keywords", "keywords", "parsely-tags")
TITLE_KEYS = ("og:title", "twitter:title", "title", "dc.title")
LANGUAGE_KEYS = ("content-language", "language", "dc.language", "og:locale")

# the elements read here, collected in one walk of the tree (a walk a kind cost 6x as much)
_SCAN_TAGS = ("meta", "script", "link", "h1", "title", "time")
# An XPath scan of the whole tree costs about a third of the parse: these two run only when the sources before
# them (JSON-LD, <meta>) gave no date, no author.
_DATE_ELEMENTS_XPATH = etree.XPath("//*[@itemprop='datePublished' or @pubdate]")
_BYLINE_XPATH = etree.XPath(
    "//*[@itemprop or @rel='author' or contains(@class, 'uthor') or contains(@class, 'yline') or "
    "contains(@class, 'writer') or contains(@class, 'screenname') or contains(@class, 'username') or @class='byl' "
    "or contains(@id, 'uthor') or contains(@data-component, 'Byline')]|//author"
)
# Which byline candidates are likely, as trafilatura ranks its author XPaths (trafilatura.xpaths.AUTHOR_XPATHS),
# and where a candidate does not count (AUTHOR_DISCARD_XPATHS: comments, sidebars, dates, figures)
_BYLINE_TIER1_RE = re.compile(r"author[-_]?name", re.IGNORECASE)
_BYLINE_TIER2_TAGS = frozenset(("a", "div", "h3", "h4", "p", "span"))
_DISCARD_TAGS = frozenset(("a", "div", "section", "span"))
_BYLINE_DISCARD_RE = re.compile(r"^comments|^Comments|commentlist|comment-list|commentslist|ProductReviews|sidebar|"
                                r"is-hidden|quote|embedly-instagram|article-share|article-support|print|category|"
                                r"meta-date|meta-reviewer")
_SPACE_RE = re.compile(r"\s+")
_TITLE_SEPARATORS = re.compile(r"\s+[|–—·•»:-]\s+|\s+::\s+")


@dataclass(frozen=True)
class PageMeta:
    """What a page or text says about its article; ``fields()`` are ArticleMeta's, plus ``title``. A value:
    built by ``page_meta`` / ``textmeta.text_meta``, never read from anything itself."""

    published_at: PageDate | None = None
    modified_at: PageDate | None = None
    authors: tuple[str, ...] = ()
    agency: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    description: str | None = None
    image: str | None = None
    language: str | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None

    def article_fields(self) -> dict:
        """The ArticleMeta keyword arguments (the title is the cleaner's own field)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "title"}


EMPTY_META = PageMeta()


def _text(value) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = _SPACE_RE.sub(" ", value).strip()
    return value[:MAX_FIELD_CHARS] or None


# ---------------------------------------------------------------------------------------------- JSON-LD
_JSON_COMMENT_RE = re.compile(r"/\*.*?\*/|<!--|-->|^\s*//.*?$", re.DOTALL | re.MULTILINE)
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")


def parse_jsonld(raw: str) -> object | None:
    """A JSON-LD script's data, tolerant of what pages get wrong (CDATA, comments, trailing commas, raw control
    characters, several objects in one script); None when it cannot be read."""
    raw = raw.strip()
    if not raw or len(raw) > MAX_JSONLD_CHARS:
        return None
    raw = raw.removeprefix("<![CDATA[").removesuffix("]]>").strip().rstrip(";")
    for attempt in (raw, _TRAILING_COMMA_RE.sub(r"\1", _JSON_COMMENT_RE.sub("", raw))):
        try:
            return json.loads(attempt, strict=False)
        except (ValueError, RecursionError):
            pass
    try:  # several objects one after the other
        decoder, out, i = json.JSONDecoder(strict=False), [], 0
        text = _TRAILING_COMMA_RE.sub(r"\1", _JSON_COMMENT_RE.sub("", raw))
        while i < len(text) and len(out) < 20:
            obj, end = decoder.raw_decode(text, i)
            out.append(obj)
            i = end
            while i < len(text) and text[i] in " \t\r\n,;":
                i += 1
        return out or None
    except (ValueError, RecursionError):
        return None


def _types(obj: dict) -> set[str]:
    t = obj.get("@type")
    items = t if isinstance(t, list) else [t]
    return {str(x).rsplit("/", 1)[-1].lower() for x in items if isinstance(x, str)}


def jsonld_objects(data, depth: int = 0) -> list[dict]:
    """Every typed object of the data (top level, arrays, @graph, mainEntity), outermost first."""
    out: list[dict] = []
    if depth > 6:
        return out
    if isinstance(data, list):
        for item in data[:200]:
            out.extend(jsonld_objects(item, depth + 1))
    elif isinstance(data, dict):
        if "@type" in data:
            out.append(data)
        for key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement"):
            if isinstance(data.get(key), (list, dict)):
                out.extend(jsonld_objects(data[key], depth + 1))
    return out


def _scan(tree) -> dict[str, list]:
    """The page's elements of _SCAN_TAGS by tag, in page order, from one walk of the tree."""
    found: dict[str, list] = {tag: [] for tag in _SCAN_TAGS}
    for el in tree.iter(*_SCAN_TAGS):
        found[el.tag].append(el)
    return found


def _jsonld_article(scripts: list) -> tuple[dict | None, dict | None, dict[str, dict]]:
    """The page's article object (first of an article type), its page object (WebPage...), and every typed
    object by its @id (an author given as {"@id": ...} is a Person elsewhere in the @graph), from JSON-LD."""
    article = page = secondary = None
    index: dict[str, dict] = {}
    for script in scripts:
        if "ld+json" not in (script.get("type") or "").lower():
            continue
        data = parse_jsonld(script.text or "")
        for obj in jsonld_objects(data):
            if isinstance(obj.get("@id"), str):
                index.setdefault(obj["@id"], obj)
            types = _types(obj)
            if article is None and types & ARTICLE_TYPES:
                article = obj
            elif secondary is None and types & SECONDARY_TYPES:
                secondary = obj
            elif page is None and types & PAGE_TYPES:
                page = obj
    return article or secondary, page, index


def _jsonld_names(value, depth: int = 0, index: dict[str, dict] | None = None) -> list[str]:
    """Names from a JSON-LD author/publisher value: a string, {"name": ...}, {"@id": ...} (looked up in
    ``index``), or a list of them."""
    if depth > 3:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [n for v in value[: T.MAX_AUTHORS * 2] for n in _jsonld_names(v, depth + 1, index)]
    if isinstance(value, dict):
        if "name" not in value and index and isinstance(value.get("@id"), str) and value["@id"] in index:
            value = index[value["@id"]]
        name = value.get("name")
        if isinstance(name, str):
            return [name]
        if isinstance(name, (list, dict)):
            return _jsonld_names(name, depth + 1, index)
        given, family = value.get("givenName"), value.get("familyName")
        if isinstance(given, str) and isinstance(family, str):
            return [f"{given} {family}"]
    return []


_ORGANISATION_TYPES = frozenset(("organization", "newsmediaorganization", "corporation", "website", "brand",
                                 "localbusiness", "educationalorganization", "governmentorganization", "ngo"))
_SQUASH_RE = re.compile(r"[\W_]+")


def _persons(value, index: dict[str, dict], keep: str = "persons"):
    """A JSON-LD author value without its organisations (a page often names its site as the author), or
    (``keep="organisations"``) a publisher value without its persons (a blog's publisher is its author)."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items[: T.MAX_AUTHORS * 2]:
        obj = index.get(item["@id"], item) if isinstance(item, dict) and isinstance(item.get("@id"), str) else item
        types = _types(obj) if isinstance(obj, dict) else set()
        is_person = "person" in types or not types & _ORGANISATION_TYPES
        if is_person == (keep == "persons") or (keep != "persons" and not types):
            out.append(item)
    return out


def _squash(name: str) -> str:
    return _SQUASH_RE.sub("", name.casefold())


def _host_label(url: str | None) -> str | None:
    """"motorsport-total" of https://www.motorsport-total.com/...: a name that is the site's, not an author's."""
    if not isinstance(url, str):
        return None
    host = urlsplit(url[:2048]).hostname or ""
    parts = [p for p in host.split(".") if p not in ("www", "m", "amp")]
    return ".".join(parts[:-1]) if len(parts) >= 2 else None


def _jsonld_url(value) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("url") or value.get("@id") or value.get("contentUrl")
    return _text(value) if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------------- <meta>
def meta_tags(metas: list) -> dict[str, list[str]]:
    """The <meta> elements' values by lower-cased name, property, itemprop or http-equiv, in page order."""
    out: dict[str, list[str]] = {}
    for el in metas:
        content = el.get("content")
        if content is None:
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = el.get(attr)
            if key:
                out.setdefault(key.strip().lower(), []).append(content)
    return out


def _first(meta: dict[str, list[str]], keys: tuple[str, ...]) -> tuple[str, str] | tuple[None, None]:
    for key in keys:
        for value in meta.get(key, ()):
            text = _text(value)
            if text:
                return key, text
    return None, None


# ---------------------------------------------------------------------------------------------- the page
def page_meta(tree, url: str | None = None, text: str = "", now: datetime | None = None,
              htmldate_fallback: bool = True) -> PageMeta:
    """The metadata of a parsed page (``tree``; None gives EMPTY_META), ``url`` its final URL, ``text`` its
    cleaned body (for the language check), ``now`` the latest credible publication time (default: the clock)."""
    if tree is None:
        return EMPTY_META
    els = _scan(tree)
    meta = meta_tags(els["meta"])
    article, page, index = _jsonld_article(els["script"])
    ld = article or page or {}
    limits = T.date_limits(now)
    published = _published(tree, els, meta, ld, url, limits, htmldate_fallback)
    modified = _modified(meta, ld, limits)
    if published is not None and modified is not None and modified.day < published.day:
        modified = None  # contradictory: an edit cannot come before the story
    # the site, its publisher and organisations are not authors
    publisher = _jsonld_names(_persons((article or {}).get("publisher"), index, keep="organisations"), 0, index)
    site_name = (_first(meta, ("og:site_name",))[1] or (_text(publisher[0]) if publisher else None)
                 or _first(meta, ("application-name",))[1])
    host = urlsplit(url[:2048]).hostname if isinstance(url, str) else None
    not_authors = {_squash(n) for n in (site_name, *publisher[:1], _host_label(url), host) if n}
    not_authors |= {n.removeprefix("www") for n in not_authors}
    authors, agency = _authors(tree, meta, ld, index, not_authors)
    description = _first(meta, DESCRIPTION_KEYS)[1] or _text(ld.get("description"))
    section = _first(meta, SECTION_KEYS)[1] or _text(ld.get("articleSection") if not isinstance(
        ld.get("articleSection"), list) else (ld["articleSection"] or [None])[0])
    raw_tags = [v for k in TAG_KEYS for v in meta.get(k, ())]
    if not raw_tags and ld.get("keywords"):
        raw_tags = ld["keywords"] if isinstance(ld["keywords"], list) else [ld["keywords"]]
    html_lang = tree.get("lang") or tree.get("xml:lang")
    declared = html_lang or _first(meta, LANGUAGE_KEYS)[1] or _text(ld.get("inLanguage"))
    return PageMeta(
        published_at=published, modified_at=modified, authors=authors, agency=agency,
        canonical_url=_canonical_url(els, meta, ld, url), site_name=site_name, description=description,
        image=_image(meta, ld, url), language=T.check_language(declared, text), section=section,
        tags=T.split_tags(raw_tags), title=page_title(els, meta, ld, site_name),
    )


def _published(tree, els: dict[str, list], meta: dict[str, list[str]], ld: dict, url: str | None, limits: tuple,
               htmldate_fallback: bool) -> PageDate | None:
    """The publication date, from the sources in the order of the module's docstring."""
    published = T.page_date(ld.get("datePublished"), "jsonld:datePublished", limits)
    meta_dates = [d for key in PUBLISHED_KEYS for value in meta.get(key, ())[:2]
                  if (d := T.page_date(value, f"meta:{key}", limits)) is not None]
    if meta_dates:  # <meta> before JSON-LD, as htmldate reads them: better on the dev set (769 vs 760 days right)
        published = meta_dates[0]
    if published is None:
        dated = [el for el in els["time"] if el.get("datetime")]
        for el in [el for el in dated if el.get("itemprop") == "datePublished" or el.get("pubdate") is not None] \
                or _DATE_ELEMENTS_XPATH(tree):
            if el.get("itemprop") == "datePublished" or el.get("pubdate") is not None:
                published = T.page_date(el.get("datetime") or el.get("content") or el.text_content()[:100],
                                        "time[datetime]", limits)
                if published is not None:
                    break
    if published is None:
        published = T.page_date(ld.get("dateCreated"), "jsonld:dateCreated", limits)
    in_url = T.url_date(url, limits) if url else None
    if in_url is not None and (published is None or published.day != in_url.day):
        published = in_url  # a full date in the path is set once, at publication; markup dates get rewritten
    if published is None and htmldate_fallback:
        published = htmldate_date(tree, url, limits)
    return published


def _modified(meta: dict[str, list[str]], ld: dict, limits: tuple) -> PageDate | None:
    modified = T.page_date(ld.get("dateModified"), "jsonld:dateModified", limits)
    if modified is None:
        for key in MODIFIED_KEYS:
            for value in meta.get(key, ()):
                modified = T.page_date(value, f"meta:{key}", limits)
                if modified is not None:
                    return modified
    return modified


def _not_links(values) -> list[str]:
    return [v for v in values if not v.strip().lower().startswith(("http://", "https://", "/"))]


def _authors(tree, meta: dict[str, list[str]], ld: dict, index: dict[str, dict],
             not_authors: set[str]) -> tuple[tuple[str, ...], str | None]:
    """The authors from the first source that names a person, and an agency any source named on the way."""

    def people(values) -> tuple[tuple[str, ...], str | None]:
        names, found_agency = T.split_authors(values)
        # "Adam Aaronson PhillyVoice": the site's name after a person's is not part of it
        names = (" ".join(n.split()[:-1]) if len(n.split()) > 2 and _squash(n.split()[-1]) in not_authors else n
                 for n in names)
        return tuple(n for n in names if _squash(n) not in not_authors), found_agency

    authors, agency = people(_jsonld_names(_persons(ld.get("author") or ld.get("creator"), index), 0, index))
    if not authors:
        for key in AUTHOR_KEYS:
            values = _not_links(meta.get(key, ()))
            if values:
                authors, found_agency = people(values)
                agency = agency or found_agency
                if authors:
                    break
    if not authors:
        byline = page_byline(_BYLINE_XPATH(tree))
        if byline:
            authors, found_agency = people(byline)
            agency = agency or found_agency
    if not authors:  # <meta name="author"> last: many sites put their owner there, not the story's author
        authors, found_agency = people(_not_links(meta.get("author", ())))
        authors = tuple(a for a in authors if " " in a)  # a first and a last name, not a nickname or brand
        agency = agency or found_agency
    return authors, agency


def _canonical_url(els: dict[str, list], meta: dict[str, list[str]], ld: dict, url: str | None) -> str | None:
    canonical_links = [el.get("href") for el in els["link"] if (el.get("rel") or "").lower() == "canonical"]
    for candidate in (*canonical_links[:1], *meta.get("og:url", ())[:1], _jsonld_url(ld.get("url")),
                      _jsonld_url(ld.get("mainEntityOfPage"))):
        canonical = T.clean_url(candidate, url)
        if canonical:
            return canonical
    return None


def _image(meta: dict[str, list[str]], ld: dict, url: str | None) -> str | None:
    for candidate in (*(meta.get(k, [None])[0] for k in IMAGE_KEYS), _jsonld_url(ld.get("image"))):
        image = T.clean_url(candidate, url, keep_query=True)
        if image:
            return image
    return None


def _byline_tier(el) -> int:
    """1, 2 or 3 as trafilatura's author XPaths rank the element; 4: not a byline."""
    cls, ident, itemprop = el.get("class") or "", el.get("id") or "", el.get("itemprop") or ""
    if (el.get("rel") == "author" or ident == "author" or cls == "author" or itemprop == "author name"
            or el.tag == "author" or _BYLINE_TIER1_RE.search(cls)):
        return 1
    if el.tag in _BYLINE_TIER2_TAGS and (cls in ("byline", "username", "byl", "BBL") or "author" in itemprop
                                         or "author" in ident or "author" in cls or "posted-by" in cls
                                         or "submitted-by" in cls or "journalist-name" in cls):
        return 2
    if ("author" in itemprop or "uthor" in ident or "uthor" in cls or "byline" in cls.lower() or "writer" in cls
            or "screenname" in cls or "Byline" in (el.get("data-component") or "")):
        return 3
    return 4


def _discarded(el) -> bool:
    for node in (el, *el.iterancestors()):
        if node.tag in ("time", "figure"):
            return True
        if node.get("data-component") and "Figure" in node.get("data-component"):
            return True
        if node.tag not in _DISCARD_TAGS:
            continue
        cls, ident = node.get("class") or "", node.get("id") or ""
        if (cls or ident) and (ident == "comments" or cls in ("comments", "title", "date")
                               or _BYLINE_DISCARD_RE.search(cls) or _BYLINE_DISCARD_RE.search(ident)):
            return True
    return False


def page_byline(candidates: list) -> str | None:
    """The page's byline element's text, found as trafilatura finds it (its author XPaths' order: rel/itemprop/
    class "author", then "byline"-like classes), outside comments, sidebars, dates and figures (trafilatura
    prunes a copy of the tree; here those candidates are skipped: no copy)."""
    ranked = sorted((t, i, el) for i, el in enumerate(candidates) if (t := _byline_tier(el)) < 4)
    for _, _, el in ranked:
        if _discarded(el):
            continue
        content = _text(" ".join(el.itertext()))
        if content and 2 < len(content) < 120:
            return content
    return None


def htmldate_date(tree, url: str | None, limits: tuple) -> PageDate | None:
    """htmldate's fast mode on the same tree (it copies the tree before pruning it): the page's text, abbr
    and time elements, which the sources above do not read."""
    from htmldate import find_date

    try:
        found = find_date(tree, url=url, extensive_search=False, original_date=True,
                          min_date=limits[0].isoformat(), max_date=limits[1].isoformat())
    except Exception:  # noqa: BLE001 - a third-party parser's failure on an odd page: no date, not a dead letter
        return None
    return T.page_date(found, "htmldate", limits)


def _clean_title(value) -> str | None:
    text = _text(value)
    return text[:500] if text else None


def page_title(els: dict[str, list], meta: dict[str, list[str]], ld: dict, site_name: str | None) -> str | None:
    """The article's headline: the first h1 when the headline, og:title or <title> confirms it; else the
    headline or og:title; else the <title>, with the site's name cut off either end."""
    h1s, titles = els["h1"], els["title"]
    h1 = _clean_title(h1s[0].text_content()) if h1s else None
    headline = _clean_title(ld.get("headline")) if isinstance(ld.get("headline"), str) else None
    og = _first(meta, TITLE_KEYS)[1]
    title_el = _clean_title(titles[0].text_content()) if titles else None
    others = [t for t in (headline, og, title_el) if t]
    if h1 and others:
        low = h1.casefold()
        if any(low == o.casefold() or (len(low) >= 10 and low in o.casefold()) for o in others):
            return h1
    for candidate in (headline, og, title_el):
        if candidate:
            return strip_site(candidate, site_name)
    return h1


def strip_site(title: str, site_name: str | None) -> str:
    """``title`` without a site name at either end (" | Site", "Site - "): the site's own name when known,
    else the shorter end when the title splits in two around one separator."""
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    site = (site_name or "").casefold()
    if site:
        if parts[-1].casefold() in site or site in parts[-1].casefold():
            if len(parts) == 2:
                return parts[0]
            return title[: title.rfind(parts[-1])].rstrip(" |–—·•»:-")
        if parts[0].casefold() in site or site in parts[0].casefold():
            return title[len(parts[0]):].lstrip(" |–—·•»:-")
    if len(parts) == 2:
        first, last = parts
        if len(last.split()) <= 4 and len(first.split()) > len(last.split()):
            return first
    return title
