"""Issue 10, broker-free: a replay's latency from ``replayed_at``, the bytes a replay sends, push's size limit from
the topic registry, the folder suffixes push's help names, and the extractor saying how much it analysed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from schemas import headers as header
from schemas.messages import ExtractedArticle, Extraction, IngestRequest
from schemas.topics import TOPICS
from services.cli import dlq, push
from services.cli.main import build_parser
from services.extractor import keywords, nlp
from services.indexer.logic import enrich

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


def extracted(**more) -> ExtractedArticle:
    return ExtractedArticle(article_id="a1", ingested_at=T0, text="Talks in Geneva.",
                            extraction=Extraction(language="en"), **more)


# --- 10.5: replays -------------------------------------------------------------------------------------------

def test_a_replayed_article_is_timed_from_its_replay_and_keeps_its_ingest_time():
    replayed = T0 + timedelta(seconds=730)
    event = enrich(extracted(replayed_at=replayed), replayed + timedelta(seconds=1.5))
    assert event.end_to_end_seconds == 1.5  # not 731.5
    assert event.ingested_at == T0 and event.replayed_at == replayed
    assert enrich(extracted(), T0 + timedelta(seconds=2)).end_to_end_seconds == 2.0


def test_a_replay_sets_replayed_at_in_a_json_original_and_leaves_other_bytes_alone():
    original = IngestRequest(article_id="a1", ingested_at=T0, url="https://example.com/a").to_bytes()
    when = T0 + timedelta(minutes=12)
    sent = IngestRequest.from_bytes(dlq.with_replayed_at(original, when))
    assert sent.replayed_at == when and sent.ingested_at == T0 and sent.url == "https://example.com/a"
    again = IngestRequest.from_bytes(dlq.with_replayed_at(dlq.with_replayed_at(original, T0), when))
    assert again.replayed_at == when
    for raw in (b"not json", b"[1, 2]", b"\xff\xfe", b'"a string"'):
        assert dlq.with_replayed_at(raw, when) == raw


# --- 10.4: push's size limit -----------------------------------------------------------------------------------

def test_the_push_limit_is_the_registry_s_max_message_bytes():
    assert push.message_limit() == int(TOPICS.ingest.config["max.message.bytes"])


def test_a_message_s_size_counts_key_value_headers_and_the_batch_around_them():
    headers = [(header.SCHEMA, b"IngestRequest/v1")]
    size = push.message_size(b"k" * 16, b"v" * 1000, headers)
    assert 1000 + 16 + len(header.SCHEMA) + 16 < size < 1000 + 200


# --- 10.9: push's help and the folder suffixes ---------------------------------------------------------------

def test_push_help_names_every_suffix_a_folder_contributes():
    parser = build_parser()._subparsers._group_actions[0].choices["push"]
    for suffix in push.FOLDER_SUFFIXES:
        assert suffix in parser.description, suffix
    assert "any other file as text" in parser.description


def test_a_folder_pushes_its_article_files_and_says_which_it_skipped(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("A text.")
    (tmp_path / "b.html").write_text("<p>A page.</p>")
    (tmp_path / "README.md").write_text("not an article")
    pushed = [where for where, _ in push.requests_from([str(tmp_path)], None, T0)]
    assert pushed == [str(tmp_path / "a.txt"), str(tmp_path / "b.html")]
    err = capsys.readouterr().err
    assert "skipped 1 file(s)" in err and "README.md" in err
    alone = list(push.requests_from([str(tmp_path / "README.md")], None, T0))  # named alone: pushed as text
    assert alone[0][1].text == "not an article"


# --- 10.8: truncation ---------------------------------------------------------------------------------------

def test_a_short_text_is_analysed_whole():
    x = nlp.analyse("Sergei Ryabkov said on Monday that the talks in Geneva would focus on security. " * 3, T0)
    assert x.language == "en" and not x.truncated and x.analysed_chars == len(
        "Sergei Ryabkov said on Monday that the talks in Geneva would focus on security. " * 3)


def test_a_text_longer_than_spacy_s_limit_says_it_was_truncated_and_how_much_was_analysed(monkeypatch):
    monkeypatch.setattr(nlp, "SPACY_MAX_CHARS", 2_000)  # the real limit, 100,000, costs ~4 s of spaCy here
    sentence = "The minister said on Monday that the talks in Geneva would focus on security and trade. "
    text = sentence * 60
    x = nlp.analyse(text, T0)
    assert x.language == "en" and x.truncated and x.analysed_chars == 2_000 < len(text)
    assert all(e.end <= 2_000 for e in x.entities)
    assert json.loads(x.model_dump_json())["truncated"] is True


def test_the_real_limit_is_what_an_event_reports():
    assert nlp.analysed_chars(250_000, "en") == nlp.SPACY_MAX_CHARS == 100_000
    assert nlp.analysed_chars(50_000, "fr") == keywords.YAKE_MAX_CHARS
    assert nlp.analysed_chars(250_000, "und") == 250_000

