"""Issue 11 on the real broker, from articles.cleaned on (the cleaner's metadata extraction is tested with the
cleaner): the extractor resolves the seed's dates against the publication date a CleanedArticle carries, checks
its declared language; the indexer stores the metadata; `newsflow search` filters on it and `newsflow tail`
shows it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid

import pytest

from schemas.messages import CleanedArticle, PageDate
from schemas.topics import TOPICS
from services.indexer.store import SqliteIndex
from services.runtime.clients import schema_headers
from tests.harness import ROOT, Pipeline, print_logs_if_failed
from tests.harness.seeds import SEED_ARTICLE


@pytest.fixture(scope="module")
def stages(broker):
    """The extractor and the indexer only: this module pushes to articles.cleaned itself."""
    p = Pipeline.start(broker, stages=("extractor", "indexer"))
    yield p
    p.stop()


@pytest.fixture
def logs_on_failure(request, stages):
    """Print the two services' logs after a test that failed."""
    yield
    print_logs_if_failed(request.node, stages)


def cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess:
    env = {**pipeline.env, "NEWSFLOW_INDEXER_DB_PATH": str(pipeline.db_path)}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_dates_follow_the_publication_date_and_the_index_filters_on_it(stages, logs_on_failure):
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    now = dt.datetime.now(dt.timezone.utc)
    run = uuid.uuid4().hex[:8]
    published = CleanedArticle(article_id=f"pub-{run}", ingested_at=now, text=text, title="Talks in January",
                               url=f"https://www.example-news.com/{run}", site_name="Example News",
                               published_at=PageDate(value="2021-12-28", provenance="ingest:metadata"),
                               authors=("Jane Doe",), language="en-US")
    undated = CleanedArticle(article_id=f"und-{run}", ingested_at=now, text=text + "\nA second copy.",
                             language="fr")
    p = stages.producer()
    for article in (published, undated):
        p.send(stages.kafka.topic(TOPICS.cleaned.name), key=article.article_id.encode(), value=article.to_bytes(),
               headers=schema_headers(TOPICS.cleaned)).get(30)
    p.close()
    events = stages.wait_enriched([published.article_id, undated.article_id])

    dated = events[published.article_id]
    resolved = {d.text: (d.date, d.anchor) for d in dated.extraction.dates}
    assert resolved["January 12"] == (dt.date(2022, 1, 12), "published_at")
    assert resolved["January 13"] == (dt.date(2022, 1, 13), "published_at")
    assert dated.published_at == published.published_at and dated.authors == ("Jane Doe",)
    assert dated.language == "en-US" and dated.extraction.language == "en"
    other = events[undated.article_id]
    assert {d.anchor for d in other.extraction.dates} == {"ingested_at"}
    assert other.language == "en"  # declared "fr", written in English

    index = SqliteIndex(stages.db_path, readonly=True)
    try:
        hits = index.search("Ryabkov", since=dt.date(2021, 12, 1), until=dt.date(2021, 12, 31))
        assert [h.article_id for h in hits] == [published.article_id]
        assert [h.article_id for h in index.search("Ryabkov", site="example-news.com")] == [published.article_id]
        assert [h.article_id for h in index.search("Ryabkov", sort="date")][0] == published.article_id
    finally:
        index.close()
    found = cli(stages, "search", "Ryabkov", "--author", "doe", "--site", "Example News")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(f"{published.article_id}  2021-12-28  Example News  ")
    tail = cli(stages, "tail", "--from-beginning", "--ids", published.article_id, "--timeout", "60")
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.startswith(f"{published.article_id}  2021-12-28  Example News  'Talks in January'  lang=en-US")
