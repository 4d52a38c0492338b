"""Issue 11 point 1 on the real broker, from articles.ingest on: the cleaner reads an HTML page's publication
date, authors and canonical URL (and an agency from a text's byline), and the extractor and indexer carry them
unchanged to events.enriched; values pushed in the request's metadata win, with provenance ingest:metadata."""

from __future__ import annotations

import json

import pytest

from schemas.messages import BoilerplateCategory, PageDate
from tests.harness import request
from tests.harness.seeds import PORT_STRIKE_STORY

STORY = PORT_STRIKE_STORY
JSONLD = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Dock strike halts port",
          "datePublished": "2025-03-03T14:05:00+01:00",
          "author": [{"@type": "Person", "name": "Anneke de Vries"}, {"@type": "Organization", "name": "Port Daily"}]}
PAGE = (
    '<html lang="en"><head><title>Dock strike halts port | Port Daily</title>'
    f'<script type="application/ld+json">{json.dumps(JSONLD)}</script>'
    '<meta property="og:site_name" content="Port Daily">'
    '<link rel="canonical" href="https://portdaily.example.com/news/dock-strike?utm_source=rss&amp;fbclid=x">'
    f"</head><body><article><h1>Dock strike halts port</h1>{STORY}</article></body></html>"
)
TEXT = ("Dock strike halts port\n\nBy Jan Smit, Reuters\n\n"
        + "\n\n".join(p.removeprefix("<p>") for p in STORY.split("</p>") if p))


@pytest.mark.usefixtures("show_logs_on_failure")
def test_page_metadata_reaches_the_enriched_event(pipeline):
    page, pushed, text = (request(html=PAGE), request(html=PAGE.replace("Dock strike", "Port strike"),
                                                      metadata={"published_at": "2025-03-01", "authors": "Ed Editor"}),
                          request(text=TEXT))
    pipeline.push([page, pushed, text])
    events = pipeline.wait_enriched([page.article_id, pushed.article_id, text.article_id], timeout=180)

    event = events[page.article_id]
    assert event.published_at == PageDate(value="2025-03-03T14:05:00+01:00", provenance="jsonld:datePublished")
    assert event.authors == ("Anneke de Vries",)
    assert event.canonical_url == "https://portdaily.example.com/news/dock-strike"
    assert (event.site_name, event.language, event.title) == ("Port Daily", "en", "Dock strike halts port")
    assert not event.text.startswith("Dock strike halts port")

    event = events[pushed.article_id]
    assert event.published_at == PageDate(value="2025-03-01", provenance="ingest:metadata")
    assert event.authors == ("Ed Editor",) and event.metadata["authors"] == "Ed Editor"

    event = events[text.article_id]
    assert event.authors == ("Jan Smit",) and event.agency == "Reuters"
    assert "By Jan Smit" not in event.text
    assert event.removed.get(BoilerplateCategory.metadata) == 1
