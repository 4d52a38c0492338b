"""Contracts: every topic is declared once and completely; every example message validates, runs through the
step of the service that consumes it and on through every step downstream, and gives the checked-in output;
the checked-in JSON Schemas are fresh and changes stay compatible as each topic declares.

Which service consumes which topic is not written here: it is read from the services' own declarations
(``services/<name>/service.py: build_stage(settings)`` returns a :class:`services.runtime.stage.Stage` with its
source topic, sink topic and step). The fetcher gets a fake download; the indexer a fresh SqliteIndex.

Expected outputs: ``tests/contract/expected/<topic>-<n>.json``, one file per example, holding each hop's output
(``{"<sink topic>": {...}, ...}``) without the volatile fields listed in ``VOLATILE`` (left out by name). After a
deliberate change of behaviour, rewrite them with ``.venv/bin/pytest tests/contract --update-contract`` and review
the diff like code: the files are the specification, not a snapshot to accept blindly.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pkgutil
import re
import typing
from pathlib import Path

import pytest

import services
from schemas import generate, messages
from schemas.topics import TOPICS, TOPICS_DIR, Topic
from services.fetcher.logic import Page
from services.indexer.store import SqliteIndex
from services.runtime.stage import Stage

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).with_name("expected")
EXAMPLES = [(t, i, e) for t in TOPICS for i, e in enumerate(t.examples)]
# Fields whose value depends on the clock or the machine, left out of the expected outputs by name.
VOLATILE = frozenset({"timings", "indexed_at", "stage_seconds", "end_to_end_seconds"})
FETCHED_PAGE = ("<html><body><article><p>Talks between the United States and Russia will take place in Geneva.</p>"
                "</article></body></html>")


async def fake_fetch(url: str) -> Page:
    """The fetcher's download, faked: every URL answers 200 with ``FETCHED_PAGE``."""
    return Page(final_url=url, status=200, content_type="text/html", kind="html", body=FETCHED_PAGE,
                size=len(FETCHED_PAGE))


def service_stages(index_path: Path) -> dict[str, Stage]:
    """{source topic name: Stage} of every service that declares ``build_stage``, each built from its own
    settings class (read from build_stage's annotation) with its defaults."""
    injected = {"fetcher": fake_fetch, "index": SqliteIndex(index_path)}
    stages = {}
    for package in pkgutil.iter_modules(services.__path__):
        try:
            module = importlib.import_module(f"services.{package.name}.service")
        except ModuleNotFoundError as exc:
            if exc.name == f"services.{package.name}.service":
                continue  # runtime, cli: no service module
            raise
        build = getattr(module, "build_stage", None)
        if build is None:
            continue
        settings = typing.get_type_hints(build)["settings"]()
        wanted = inspect.signature(build).parameters
        stage = build(settings, **{k: v for k, v in injected.items() if k in wanted})
        assert stage.source.name not in stages, f"two services consume {stage.source.name}"
        stages[stage.source.name] = stage
    return stages


@pytest.fixture
def stages(tmp_path) -> dict[str, Stage]:
    return service_stages(tmp_path / "index.db")


def run(stage: Stage, message: messages.Message) -> messages.Message:
    """The stage's step (batched where the stage has a batch form, as the runner calls it) and its effect (the
    indexer's store), whose result is what the runner produces."""
    if stage.step_batch is not None:
        [output] = stage.step_batch([message])
        if isinstance(output, BaseException):
            raise output
    else:
        output = stage.step(message)
        if inspect.isawaitable(output):
            output = asyncio.run(output)
    if stage.effect is not None:
        output = stage.effect(output)
    return output


def run_downstream(stages: dict[str, Stage], topic: Topic, message: messages.Message) -> dict[str, messages.Message]:
    """{sink topic name: output} of the step consuming ``topic`` and of every step after it, in order."""
    outputs = {}
    while topic.name in stages:
        stage = stages[topic.name]
        message = run(stage, message)
        assert isinstance(message, stage.sink.model), (stage.name, type(message))
        topic = stage.sink
        outputs[topic.name] = message
    return outputs


def stable(value):
    """``value`` (JSON) without the VOLATILE fields, at any depth."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def expected_path(topic: Topic, index: int) -> Path:
    return EXPECTED / f"{topic.name}-{index}.json"


def test_every_topic_file_is_bound_to_the_registry_and_complete():
    files = sorted(p.stem for p in TOPICS_DIR.glob("*.yaml"))
    assert files == sorted(t.name for t in TOPICS)
    for t in TOPICS:
        assert t.description and t.producers and t.consumers and t.partitions >= 1
        assert "retention.ms" in t.config and t.examples, t.name
        assert issubclass(t.model, messages.Message)


def test_every_service_consumes_a_topic_that_names_it_as_consumer(stages):
    assert set(stages) == {TOPICS.ingest.name, TOPICS.fetched.name, TOPICS.cleaned.name, TOPICS.extracted.name}
    for name, stage in stages.items():
        assert stage.name.value in TOPICS.by_name(name).consumers, name
        assert stage.name.value in stage.sink.producers, stage.sink.name


@pytest.mark.parametrize("topic, index, example", EXAMPLES, ids=[f"{t.name}[{i}]" for t, i, _ in EXAMPLES])
def test_every_example_validates_round_trips_and_gives_its_expected_outputs(topic, index, example, stages,
                                                                             request):
    message = topic.model.model_validate(example)
    assert topic.model.from_bytes(message.to_bytes()) == message
    outputs = run_downstream(stages, topic, message)
    for output in outputs.values():
        assert output.article_id == message.article_id and output.ingested_at == message.ingested_at
    got = {name: stable(json.loads(output.to_bytes())) for name, output in outputs.items()}
    path = expected_path(topic, index)
    if request.config.getoption("update_contract", default=False) and got:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        pytest.skip(f"rewrote {path.relative_to(ROOT)}: review its diff")
    if not got:  # events.enriched and the DLQ topics are consumed by users and operators
        assert not path.exists(), f"{path.name}: no service consumes {topic.name}"
        return
    assert path.exists(), f"{path.name} missing: run pytest tests/contract --update-contract and review it"
    assert got == json.loads(path.read_text())


def chain(stages: dict[str, Stage], topic: Topic, index: int) -> dict[str, messages.Message]:
    return run_downstream(stages, topic, topic.model.model_validate(topic.examples[index]))


def test_a_pushed_url_is_downloaded_and_its_page_cleaned(stages):
    out = chain(stages, TOPICS.ingest, 0)
    fetched, cleaned = out[TOPICS.fetched.name], out[TOPICS.cleaned.name]
    assert (fetched.kind, fetched.http_status, fetched.body) == ("html", 200, FETCHED_PAGE)
    assert fetched.final_url == fetched.url == "https://news.example.com/2026/01/05/talks-in-geneva"
    assert cleaned.text == "Talks between the United States and Russia will take place in Geneva."
    assert (cleaned.published_at.value, cleaned.published_at.provenance) == ("2026-01-05", "url")  # from the URL


def test_a_pushed_text_loses_its_newsletter_line_and_names_its_people_and_places(stages):
    out = chain(stages, TOPICS.ingest, 1)
    cleaned, extracted, event = (out[t.name] for t in (TOPICS.cleaned, TOPICS.extracted, TOPICS.enriched))
    assert cleaned.title == "US, Russia set schedule for Ukraine talks in January"
    assert cleaned.text == ("Deputy Russian Foreign Minister Sergei Ryabkov said he expects talks in Geneva to focus "
                            "on security proposals.")
    assert "subscribe to mint newspaper" not in cleaned.text.lower()
    assert cleaned.removed == {"newsletter": 1}
    assert list(extracted.extraction.people) == ["Sergei Ryabkov"]
    assert "Geneva" in extracted.extraction.places
    assert event.text == cleaned.text and event.story_id == event.article_id == "81597562a20f18e4"
    assert event.extraction == extracted.extraction and len(event.content_hash) == 64


def test_a_pushed_page_loses_its_navigation_and_footer_and_keeps_its_feed(stages):
    out = chain(stages, TOPICS.ingest, 2)
    cleaned, event = out[TOPICS.cleaned.name], out[TOPICS.enriched.name]
    assert cleaned.title == "Storm hits coast"
    assert cleaned.text.startswith("A storm with winds of 120 km/h hit the coast of Brittany on Monday")
    assert cleaned.text.endswith("Rescue teams were deployed in Brest and Quimper, officials said.")
    assert "Home" not in cleaned.text and "Copyright" not in cleaned.text
    assert cleaned.removed == {"navigation": 1, "legal": 1}
    assert {"Brittany", "Brest"} <= set(event.extraction.places)  # Quimper: see expected/README.md
    assert event.metadata == {"feed": "weather"}


def test_consumers_ignore_unknown_fields():
    example = dict(TOPICS.ingest.examples[0], added_in_a_later_version={"x": 1})
    assert messages.IngestRequest.model_validate(example).url


def test_checked_in_json_schemas_are_fresh_and_compatible():
    assert generate.check() == []


def test_code_names_topics_only_through_the_registry():
    literal = re.compile(r"""["'](articles\.(ingest|fetched|cleaned|extracted|dlq)|events\.enriched)["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "services").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []


def test_every_message_is_keyed_by_article_id_and_carries_ingested_at():
    for t in TOPICS:
        if t is TOPICS.dlq or t is TOPICS.dlq_replays:  # operators' topics, about other messages
            continue
        fields = t.model.model_fields
        assert "article_id" in fields and "ingested_at" in fields, t.name
