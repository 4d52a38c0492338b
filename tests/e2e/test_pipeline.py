"""End to end: the four services as real processes on a real Kafka broker.

What each kind of input gets (all checked below):
    the seed article, HTML pages, a URL that answers 200   an enriched event, a document in the index
    malformed JSON, non-UTF-8 bytes                          dead letter, reason malformed_json (fetcher)
    JSON that fails validation (missing/contradicting)       dead letter, reason invalid_message (fetcher)
    a URL that answers 404                                   dead letter, reason http_status (fetcher)
    a URL on a private address not allowed by config         dead letter, reason blocked_address (fetcher)
    a page with no article text                              dead letter, reason empty_content (cleaner)
and after every bad input every service is still running.
"""

from __future__ import annotations

import pytest

from schemas.messages import IngestRequest
from schemas.topics import TOPICS
from services.indexer.store import SqliteIndex
from services.runtime.metrics import DOCS, SPARSE
from tests.harness.seeds import SEED_ARTICLE, SEEDS
from tests.harness import STAGES, metric, request, seed_request, wait_until

SEED_PEOPLE = {"Biden", "Sergei Ryabkov", "Wendy Sherman", "Lloyd Austin", "Jake Sullivan", "Vladimir Putin",
               "Michael Kaufman"}
SEED_ORGS = {"NATO", "National Security Council"}
SEED_PLACES = {"Geneva", "Brussels", "Ukraine", "Russia"}
# The six lines the issue names, kept in one place beside the seed (without their leading ", ").
SEED_BOILERPLATE = tuple(
    line.lstrip(", ") for line in SEED_ARTICLE.with_suffix(".boilerplate").read_text().splitlines() if line
)

pytestmark = pytest.mark.usefixtures("show_logs_on_failure")


def story_paragraphs(text: str) -> list[str]:
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = paragraphs[1:]  # the first line is the headline
    return [p for p in body if not any(b in p for b in SEED_BOILERPLATE)]


def test_the_seed_article_comes_out_clean_enriched_searchable_and_counted(pipeline):
    before = {s: pipeline.services[s].metrics() for s in STAGES}
    text = SEED_ARTICLE.read_text()
    [article_id] = pipeline.push([seed_request(text)])
    event = pipeline.wait_enriched([article_id], timeout=180)[article_id]

    for line in SEED_BOILERPLATE:
        assert line not in event.text, f"boilerplate kept: {line!r}"
    for paragraph in story_paragraphs(text):
        assert paragraph in event.text, f"story paragraph lost: {paragraph[:80]!r}"
    x = event.extraction
    assert SEED_PEOPLE <= set(x.people), sorted(x.people)
    assert SEED_ORGS <= set(x.organisations), sorted(x.organisations)
    assert SEED_PLACES <= set(x.places), sorted(x.places)
    assert x.language == "en" and x.summary and x.keywords and x.quotes and x.dates
    assert set(event.stage_seconds) == set(STAGES)
    assert event.end_to_end_seconds > 0 and sum(event.removed.values()) >= 5

    # Other tests of this session push the seed text too: search shows its story once (as the story's canonical
    # copy); every copy, this one included, with --all-copies.
    found = pipeline.cli("search", "Ryabkov", input=None)
    canonical = event.duplicate_of or article_id
    assert found.returncode == 0 and event.story_id, (found.stdout, found.stderr)
    lines = found.stdout.splitlines()
    assert sum(line.startswith(canonical) for line in lines) == 1, lines  # the story once, as its canonical copy
    assert not any(line.startswith(article_id) for line in lines if article_id != canonical), lines
    every = pipeline.cli("search", "Ryabkov", "--all-copies", "-n", "100")
    assert every.returncode == 0 and article_id in every.stdout, every.stderr

    for stage in STAGES:
        after = pipeline.services[stage].metrics()
        for name in ("newsflow_messages_consumed_total", "newsflow_messages_produced_total"):
            assert metric(after, name, stage=stage) > metric(before[stage], name, stage=stage), (stage, name)
        assert metric(after, "newsflow_processing_seconds_count", stage=stage) >= 1
        assert metric(after, "newsflow_last_processed_timestamp_seconds", stage=stage) > 0
    indexer = pipeline.services["indexer"].metrics()
    assert metric(indexer, "newsflow_end_to_end_latency_seconds_count") >= 1
    assert metric(pipeline.services["cleaner"].metrics(), "newsflow_boilerplate_removed_total") >= 5
    assert metric(pipeline.services["extractor"].metrics(), "newsflow_entities_extracted_total", label="PERSON") >= 7


def test_html_and_text_seeds_and_a_fetched_url_are_all_enriched(pipeline, web):
    files = sorted(p for p in SEEDS.iterdir() if p.suffix in (".html", ".txt") and p != SEED_ARTICLE)
    requests = [request(**{"html" if f.suffix == ".html" else "text": f.read_text()}) for f in files]
    requests.append(request(url=f"{web}/redirect-to-seed"))
    ids = pipeline.push(requests)
    events = pipeline.wait_enriched(ids, timeout=180)
    for req in requests:
        event = events[req.article_id]
        assert len(event.text) > 300 and event.extraction.entities
        for junk in ("cookie", "Subscribe", "All rights reserved", "Share on", "Download"):
            assert junk.lower() not in event.text.lower(), (req.article_id, junk)
    fetched = events[requests[-1].article_id]
    assert "Rotterdam" in fetched.text and "Niek Stam" in fetched.extraction.people


def test_bad_input_is_dead_lettered_with_its_reason_while_every_service_keeps_running(pipeline, web):
    tag = request(text="x").article_id  # a unique marker for this test's raw messages
    pipeline.push_raw([b"{not json", b"\xff\xfe\xfa binary", b'{"article_id": "' + tag.encode() + b'"}',
                       b'{"article_id": "a b", "ingested_at": "2026-01-01T00:00:00Z", "text": "t"}'], key=tag.encode())
    bad_urls = [request(url=f"{web}/status/404"), request(url="http://10.0.0.1/admin"),
                request(html="<html><body><nav><a href='/'>Home</a></nav></body></html>")]
    pipeline.push(bad_urls)
    ours = {r.article_id for r in bad_urls}
    letters = pipeline.dead_letters(
        7, timeout=120, where=lambda d: (d.key or b"").decode() == tag or (d.key or b"").decode() in ours
    )
    by_key: dict = {}
    for d in letters:
        by_key.setdefault((d.key or b"").decode(), []).append(d)
    raw = by_key[tag]
    assert sorted(d.reason for d in raw) == ["invalid_message", "invalid_message", "malformed_json", "malformed_json"]
    assert {d.value for d in raw} >= {b"{not json", b"\xff\xfe\xfa binary"}
    assert all(d.stage.value == "fetcher" and d.source_topic.endswith("articles.ingest") for d in raw)
    [not_found] = by_key[bad_urls[0].article_id]
    assert not_found.reason == "http_status" and "404" in not_found.detail
    assert IngestRequest.from_bytes(not_found.value) == bad_urls[0]
    [blocked] = by_key[bad_urls[1].article_id]
    assert blocked.reason == "blocked_address"
    [empty] = by_key[bad_urls[2].article_id]
    assert empty.reason == "empty_content" and empty.stage.value == "cleaner"
    assert empty.source_topic.endswith("articles.fetched")

    assert all(pipeline.services[s].alive() for s in STAGES)
    fine = pipeline.push([request(text=SEED_ARTICLE.read_text().replace("Geneva", "Lausanne"))])
    assert pipeline.wait_enriched(fine, timeout=120)
    fetcher = pipeline.services["fetcher"].metrics()
    assert metric(fetcher, "newsflow_messages_dead_lettered_total", stage="fetcher", reason="malformed_json") >= 2
    assert metric(fetcher, "newsflow_messages_dead_lettered_total", stage="fetcher", reason="http_status") >= 1


def test_the_same_article_pushed_twice_leaves_one_document(pipeline):
    text = SEEDS.joinpath("003_central_bank_rates.txt").read_text().replace("Frankfurt", "Frankfurt am Main")
    first = request(text=text)
    again = first.model_copy()  # same id, pushed again (a re-push or a redelivery)
    other_url = request(text=text)  # same text under another id: recognised as a duplicate
    pipeline.push([first])
    pipeline.wait_enriched([first.article_id])
    pipeline.push([again, other_url])
    events = pipeline.read(
        TOPICS.enriched,
        lambda got: sum(e.article_id == first.article_id for e in got) >= 2
        and any(e.article_id == other_url.article_id for e in got),
        120,
    )
    firsts = [e for e in events if e.article_id == first.article_id]
    dup = next(e for e in events if e.article_id == other_url.article_id)
    # Same story (other tests of this session may have pushed this seed earlier: then that copy is canonical).
    assert dup.story_id == firsts[0].story_id == firsts[-1].story_id
    assert dup.duplicate_of == (firsts[0].duplicate_of or first.article_id)
    index = SqliteIndex(pipeline.db_path, readonly=True)
    try:
        hits = index.search('"Frankfurt am Main"', collapse=False)
        assert sorted(h.article_id for h in hits) == sorted([first.article_id, other_url.article_id])
        assert pipeline.index_counts()["documents"] == pipeline.index_counts()["distinct_ids"]
    finally:
        index.close()


def test_every_service_exports_the_documented_metrics(pipeline):
    wait_until(lambda: all(
        metric(pipeline.services[s].metrics(), "newsflow_messages_consumed_total", stage=s) > 0 for s in STAGES),
        120, what="every stage to consume something")
    for stage in STAGES:
        names = {name for name, _ in pipeline.services[stage].metrics()}
        for documented in DOCS.keys() - SPARSE:
            base = documented.removesuffix("_total")
            assert any(n.startswith(base) for n in names), (stage, documented)
