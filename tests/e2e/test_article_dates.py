"""End to end (issue 11, point 2): the seed pushed with the publication date its story had, in the ingest
request's ``metadata``, resolves its dates against that day, through the four services on a real broker; pushed
without it, against the time it was ingested."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from schemas.messages import IngestRequest
from tests.harness.seeds import SEED_ARTICLE

pytestmark = pytest.mark.usefixtures("show_logs_on_failure")


def test_the_seed_pushed_with_its_publication_date_resolves_its_dates_against_it(pipeline):
    text = SEED_ARTICLE.read_text()
    now = dt.datetime.now(dt.timezone.utc)
    run = uuid.uuid4().hex[:8]
    dated = IngestRequest(article_id=f"dated-{run}", ingested_at=now, text=text,
                          metadata={"published_at": "2021-12-28"})
    undated = IngestRequest(article_id=f"undated-{run}", ingested_at=now, text=text + f"\n\nCopy {run}.")
    pipeline.push([dated, undated])
    events = pipeline.wait_enriched([dated.article_id, undated.article_id], timeout=180)

    event = events[dated.article_id]
    assert event.published_at is not None and event.published_at.day == dt.date(2021, 12, 28)
    assert event.published_at.provenance == "ingest:metadata"
    resolved = {d.text: (d.date, d.anchor) for d in event.extraction.dates}
    assert resolved["January 12"] == (dt.date(2022, 1, 12), "published_at")
    assert resolved["January 13"] == (dt.date(2022, 1, 13), "published_at")
    assert resolved["December 25"] == (dt.date(2021, 12, 25), "published_at")

    other = events[undated.article_id]
    anchors = {d.anchor for d in other.extraction.dates}
    if other.published_at is not None:  # the cleaner found a date in the text itself
        assert anchors == {"published_at"}
    else:  # nothing says when it was published: the ingest time
        assert anchors == {"ingested_at"}
        january = {d.text: d.date for d in other.extraction.dates}["January 12"]
        assert abs((january - now.date()).days) <= 183  # the January 12 closest to today
