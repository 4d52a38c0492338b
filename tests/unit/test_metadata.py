"""The cleaner's article metadata (issue 11): pages and texts in, ArticleMeta fields with their provenance out."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from schemas.messages import BoilerplateCategory as Cat, CleanedArticle, FetchedArticle, PageDate
from services.cleaner import textmeta as T
from services.cleaner.batch import clean_record
from services.cleaner.html import clean_html
from services.cleaner.text import clean_text
from services.cleaner.html import _parse
from services.cleaner.logic import clean
from services.cleaner.meta import page_meta, parse_jsonld
from tests.harness.seeds import PORT_STRIKE_STORY

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)
STORY = PORT_STRIKE_STORY


def page(head: str = "", body_top: str = "", lang: str = "en") -> str:
    return (f'<html lang="{lang}"><head><title>Dock strike halts port | The Daily Example</title>{head}</head>'
            f"<body><nav><a href='/'>Home</a></nav><article><h1>Dock strike halts port</h1>{body_top}{STORY}"
            "</article></body></html>")


def jsonld(obj) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def meta_of(html: str, url: str | None = "https://news.example.com/world/dock-strike?utm_source=x") -> object:
    return clean_html(html, url, now=NOW).meta


# ---------------------------------------------------------------------------------------------- HTML pages
def test_jsonld_article_gives_date_authors_and_more_with_provenance():
    html = page(jsonld({"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Dock strike halts port",
                        "datePublished": "2025-03-03T14:05:00+01:00", "dateModified": "2025-03-04T09:00:00+01:00",
                        "author": [{"@type": "Person", "name": "Anneke de Vries"}, {"@type": "Person",
                                                                                    "name": "By Jan Smit"}],
                        "publisher": {"@type": "Organization", "name": "The Daily Example"},
                        "articleSection": "World", "keywords": ["ports", "strikes"], "inLanguage": "en"}))
    m = meta_of(html)
    assert m.published_at == PageDate(value="2025-03-03T14:05:00+01:00", provenance="jsonld:datePublished")
    assert m.modified_at == PageDate(value="2025-03-04T09:00:00+01:00", provenance="jsonld:dateModified")
    assert m.authors == ("Anneke de Vries", "Jan Smit")
    assert (m.site_name, m.section, m.tags, m.language) == ("The Daily Example", "World", ("ports", "strikes"), "en")


def test_jsonld_graph_with_author_by_reference_and_organisation_author_skipped():
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "@id": "https://news.example.com/#page"},
        {"@type": "Article", "datePublished": "2024-11-05",
         "author": [{"@id": "https://news.example.com/#/person/1"},
                    {"@type": "Organization", "name": "Example Media"}]},
        {"@type": "Person", "@id": "https://news.example.com/#/person/1", "name": "Maria Rossi"},
    ]}
    m = meta_of(page(jsonld(graph)))
    assert m.authors == ("Maria Rossi",)
    assert m.published_at == PageDate(value="2024-11-05", provenance="jsonld:datePublished")


def test_opengraph_meta_tags_and_canonical_url():
    head = ('<meta property="article:published_time" content="2025-02-01T08:30:00Z">'
            '<meta name="author" content="By Jane Doe, Staff Writer">'
            '<meta property="og:site_name" content="The Daily Example">'
            '<meta property="og:description" content="A strike stopped the port.">'
            '<meta property="og:image" content="/img/port.jpg">'
            '<meta property="article:tag" content="ports"><meta property="article:tag" content="labour">'
            '<link rel="canonical" href="/world/dock-strike?utm_source=feed&fbclid=abc&page=2#top">')
    m = meta_of(page(head))
    assert m.published_at == PageDate(value="2025-02-01T08:30:00Z", provenance="meta:article:published_time")
    assert m.authors == ("Jane Doe",)
    assert m.canonical_url == "https://news.example.com/world/dock-strike?page=2"
    assert m.image == "https://news.example.com/img/port.jpg"
    assert (m.site_name, m.description, m.tags) == ("The Daily Example", "A strike stopped the port.",
                                                   ("ports", "labour"))


def test_time_element_and_byline_element_when_markup_has_no_metadata():
    top = ('<div class="byline">By <a rel="author" href="/a/pk">Pieter Kok</a></div>'
           '<time itemprop="datePublished" datetime="2024-06-07T10:00:00+02:00">7 June</time>')
    m = meta_of(page(body_top=top))
    assert m.published_at == PageDate(value="2024-06-07T10:00:00+02:00", provenance="time[datetime]")
    assert m.authors == ("Pieter Kok",)


def test_url_date_when_the_page_says_nothing():
    m = meta_of(page(), url="https://news.example.com/2023/05/17/dock-strike/")
    assert m.published_at == PageDate(value="2023-05-17", provenance="url")


def test_agency_goes_to_agency_not_authors():
    m = meta_of(page('<meta name="author" content="Jane Doe and John Roe, Reuters">'))
    assert m.authors == ("Jane Doe", "John Roe")
    assert m.agency == "Reuters"


def test_the_sites_name_is_not_an_author():
    m = meta_of(page('<meta property="og:site_name" content="The Daily Example">'
                     '<meta name="author" content="The Daily Example">'))
    assert m.authors == ()


def test_declared_language_checked_against_the_text():
    assert meta_of(page(lang="de")).language == "en"  # markup says German, the story is English
    assert meta_of(page(lang="en-us")).language == "en-US"


def test_title_prefers_a_confirmed_h1_and_cuts_the_site_name():
    assert clean_html(page(), None, now=NOW).title == "Dock strike halts port"
    html = page().replace("<h1>Dock strike halts port</h1>", "")
    assert clean_html(html, None, now=NOW).title == "Dock strike halts port"


def test_html_title_is_never_repeated_as_the_first_line_of_the_text():
    """Issue 10 point 9: the title is returned apart, and the text starts with the story in both modes."""
    html = ("<html><head><title>Dock strike halts port</title></head><body><article>"
            f"<h1>Dock strike halts port</h1><p>Dock strike halts port</p>{STORY}</article></body></html>")
    out = clean_html(html)
    assert out.title == "Dock strike halts port"
    assert not out.text.startswith("Dock strike halts port"), out.text[:80]
    text = clean_text("Dock strike halts port\n\n" + "\n\n".join(STORY.replace("</p>", "").split("<p>")[1:]))
    assert text.title == "Dock strike halts port" and not text.text.startswith("Dock strike")


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("raw", [
    '{"@type": "NewsArticle", "datePublished": "2024-01-02", }',  # trailing comma
    '<!--\n{"@type": "NewsArticle", "datePublished": "2024-01-02"}\n-->',  # HTML comment around it
    '{"@type": "NewsArticle", "datePublished": "2024-01-02", "headline": "line\nbreak"}',  # raw newline
])
def test_broken_jsonld_is_repaired(raw):
    assert parse_jsonld(raw)["datePublished"] == "2024-01-02"


@pytest.mark.parametrize("raw", ['{"@type": "NewsArticle", "datePublished": ', "[[[[", "null", "{" * 5000])
def test_unreadable_jsonld_gives_nothing_and_does_not_raise(raw):
    html = page(f'<script type="application/ld+json">{raw}</script>')
    out = clean_html(html, "https://news.example.com/a", now=NOW)
    assert out.text and out.meta.published_at is None


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "2031-01-01T00:00:00Z", "1970-01-01", "not a date",
                                   "", "   "])
def test_absurd_or_future_dates_give_no_date(value):
    html = page(f'<meta property="article:published_time" content="{value}">')
    assert meta_of(html, url=None).published_at is None


def test_impossible_days_are_not_dates():
    limits = T.date_limits(NOW)
    assert T.parse_date("2024-02-30", limits) is None and T.parse_date("31.13.2024", limits) is None


def test_contradictory_dates_keep_the_best_source_and_drop_an_edit_before_the_story():
    html = page(jsonld({"@type": "NewsArticle", "datePublished": "2024-05-05", "dateModified": "2023-01-01"})
                + '<meta property="article:published_time" content="2022-07-07">')
    m = meta_of(html, url=None)
    assert m.published_at == PageDate(value="2022-07-07", provenance="meta:article:published_time")  # meta first
    assert m.modified_at == PageDate(value="2023-01-01", provenance="jsonld:dateModified")  # after 2022-07-07
    html = page(jsonld({"@type": "NewsArticle", "datePublished": "2024-05-05", "dateModified": "2023-01-01"}))
    assert meta_of(html, url=None).modified_at is None  # an edit before the story is not credible
    dated_url = meta_of(html, url="https://news.example.com/2024/05/06/story")
    assert dated_url.published_at == PageDate(value="2024-05-06", provenance="url")  # the URL's day wins


def test_a_ten_thousand_name_byline_gives_at_most_max_authors():
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = [f"Jane {letters[i % 26].upper()}{letters[i // 26 % 26]}{letters[i // 676 % 26]}son" for i in range(10_000)]
    m = meta_of(page(f'<meta name="author" content="{", ".join(names)}">'))
    assert 0 < len(m.authors) <= T.MAX_AUTHORS and m.authors[0] == "Jane Aaason"
    listed = meta_of(page(jsonld({"@type": "NewsArticle", "author": [{"name": n} for n in names]})))
    assert 0 < len(listed.authors) <= T.MAX_AUTHORS


def test_hostile_values_never_break_the_step():
    article = FetchedArticle(article_id="a-1", ingested_at=NOW, kind="html", url="https://ex.com/a",
                             body=page(jsonld({"@type": "NewsArticle", "datePublished": 12, "author": {"name": 5},
                                               "image": [{"url": "javascript:alert(1)"}], "keywords": 7})))
    out = clean(article)
    assert out.published_at is None and out.authors == () and out.image is None


# ---------------------------------------------------------------------------------------------- plain text
def test_text_dateline_byline_and_published_lines():
    text = ("Rates held steady\n\nBy Jane Doe and John Roe, Reuters\nPublished March 3, 2025\n\n"
            "FRANKFURT, March 3 (Reuters) - The European Central Bank held its rates on Monday, as markets had "
            "widely expected, and said inflation would ease over the year.\n\n"
            "The bank said it would watch the data closely in the coming months before it moves again.")
    out = clean_text(text, now=NOW)
    assert out.meta.published_at == PageDate(value="2025-03-03", provenance="text:published")
    assert out.meta.authors == ("Jane Doe", "John Roe") and out.meta.agency == "Reuters"
    assert "By Jane Doe" not in out.text and "Published March" not in out.text
    assert out.text.startswith("FRANKFURT, March 3 (Reuters)")  # the dateline stays: it starts the story
    assert out.removed.get(Cat.metadata) == 2  # counted as metadata, not as boilerplate


def test_text_dateline_alone_gives_date_without_year_and_agency():
    text = ("PARIS, Dec 2 (AFP) - French unions called a national strike for next week over the pension reform, "
            "their leaders said on Monday after a meeting in the capital.\n\n"
            "The government said it would not withdraw the bill but was open to talks on some of its measures.")
    out = clean_text(text, now=datetime(2025, 1, 15, tzinfo=timezone.utc))
    assert out.meta.published_at == PageDate(value="2024-12-02", provenance="text:dateline")
    assert out.meta.agency == "AFP"


def test_seed_text_metadata():
    seed = (REPO / "seeds" / "000_81597562a20f18e4.txt").read_text()
    out = clean_text(seed, now=NOW)
    assert out.meta.agency == "wire agency"  # the wire-feed line names no agency
    assert out.meta.language == "en"
    assert out.meta.published_at is None and out.meta.authors == ()  # the seed gives neither
    assert out.removed.get(Cat.metadata) == 1
    assert "wire agency feed" not in out.text


def test_ingest_metadata_wins_with_its_provenance():
    seed = (REPO / "seeds" / "000_81597562a20f18e4.txt").read_text()
    article = FetchedArticle(article_id="seed", ingested_at=NOW, kind="text", body=seed,
                             metadata={"published_at": "2021-12-28", "authors": "Jane Doe; John Roe",
                                       "site_name": "Mint", "tags": "russia, ukraine", "note": "kept"})
    out = clean(article)
    assert isinstance(out, CleanedArticle)
    assert out.published_at == PageDate(value="2021-12-28", provenance="ingest:metadata")
    assert out.authors == ("Jane Doe", "John Roe") and out.site_name == "Mint"
    assert out.tags == ("russia", "ukraine") and out.metadata["note"] == "kept"
    html = FetchedArticle(article_id="h", ingested_at=NOW, kind="html", url="https://news.example.com/a",
                          body=page('<meta property="article:published_time" content="2025-02-01">'),
                          metadata={"published_at": "2025-01-31T10:00:00+01:00", "canonical_url": "nonsense"})
    out = clean(html)
    assert out.published_at == PageDate(value="2025-01-31T10:00:00+01:00", provenance="ingest:metadata")
    assert out.canonical_url is None or out.canonical_url.startswith("https://")


def test_batch_takes_url_and_writes_the_fields():
    line = json.dumps({"id": "p1", "url": "https://news.example.com/2024/06/07/story",
                       "html": page('<meta name="author" content="Jane Doe">')})
    out = clean_record(line)
    assert out["published"] == "2024-06-07" and out["published_at"] == {"value": "2024-06-07", "provenance": "url"}
    assert out["authors"] == ["Jane Doe"] and out["title"] == "Dock strike halts port"
    assert out["canonical_url"] is None and out["language"] == "en"


@pytest.mark.parametrize("value, expected", [
    ("2025-03-03T14:05:00+0100", "2025-03-03T14:05:00+01:00"),
    ("2025-03-03 14:05", "2025-03-03T14:05:00"),
    ("March 3, 2025", "2025-03-03"),
    ("3. März 2025", "2025-03-03"),
    ("03.03.2025", "2025-03-03"),
    ("1741010700", "2025-03-03T14:05:00Z"),
    ("Mon Mar 3 14:05:21 CET 2025", "2025-03-03T14:05:00"),  # the year after the time (was taken as missing)
])
def test_date_forms(value, expected):
    assert T.parse_date(value, T.date_limits(NOW)) == expected


def test_parse_tree_is_shared_and_meta_is_pure():
    tree = _parse(page())
    assert page_meta(tree, None, now=NOW) == page_meta(tree, None, now=NOW)
    assert page_meta(None) == page_meta(None)


@pytest.mark.parametrize("byline, names, agency", [
    ("By Jane Doe and John Roe, Reuters", ("Jane Doe", "John Roe"), "Reuters"),
    ("Von Anna Muster und Max Mustermann (dpa)", ("Anna Muster", "Max Mustermann"), "dpa"),
    ("Ingo Arzt Redakteur für Wirtschaft", ("Ingo Arzt",), None),
    ("Interview: Julia Lauter", ("Julia Lauter",), None),
    ("Grant Tinsley, PhD", ("Grant Tinsley",), None),
    ("jane@example.com (Jane Doe)", (), None),
    ("Post author By Helge Fahrnberger", ("Helge Fahrnberger",), None),
    ("责任编辑：孔德明", ("孔德明",), None),
    ("Getty Images", (), None),
    ("Richard David Precht im Gespräch", ("Richard David Precht",), None),
])
def test_split_authors(byline, names, agency):
    assert T.split_authors(byline) == (names, agency)
