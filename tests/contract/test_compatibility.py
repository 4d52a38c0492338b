"""The topic files' ``compatibility`` (schemas.topics.COMPATIBILITY): every mode refuses what Confluent's Schema
Registry says it refuses and allows the rest, an unknown mode stops the registry from loading, and the schema
check (``python -m schemas.generate --check``) applies each topic's declared mode."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil

import pytest

from schemas import generate
from schemas.topics import COMPATIBILITY, TOPICS, TOPICS_DIR, load_registry

MODES = tuple(COMPATIBILITY)


def ingest() -> dict:
    return generate.schema_of(TOPICS.ingest)


def changed(schema: dict, change) -> dict:
    new = copy.deepcopy(schema)
    change(new)
    return new


def add_optional(s):
    s["properties"]["priority"] = {"type": "integer"}


def add_required(s):
    s["properties"]["priority"] = {"type": "integer"}
    s["required"].append("priority")


def make_required(s):
    s["required"].append("title")


def remove_optional(s):
    del s["properties"]["source"]


def remove_required(s):
    del s["properties"]["ingested_at"]
    s["required"].remove("ingested_at")


def make_optional(s):
    s["required"].remove("ingested_at")


def retype(s):
    s["properties"]["url"] = {"type": "integer"}


def gain_enum_value(s):
    s["$defs"]["StageName"]["enum"].append("summariser")


def lose_enum_value(s):
    s["$defs"]["StageName"]["enum"].remove("indexer")


# change -> the modes that allow it (Confluent: backward = "delete fields, add optional fields"; forward = "add
# fields, delete optional fields"; full = "add or delete optional fields"; none = anything)
ALLOWED = {
    add_optional: {"backward", "forward", "full", "none"},
    remove_optional: {"backward", "forward", "full", "none"},
    add_required: {"forward", "none"},
    make_required: {"forward", "none"},
    remove_required: {"backward", "none"},
    make_optional: {"backward", "none"},
    retype: {"none"},
    gain_enum_value: {"backward", "none"},
    lose_enum_value: {"forward", "none"},
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("change", ALLOWED, ids=[c.__name__ for c in ALLOWED])
def test_each_mode_allows_and_refuses_what_it_declares(change, mode):
    old = generate.schema_of(TOPICS.dlq) if "enum" in change.__name__ else ingest()
    problems = generate.breaking_changes(old, changed(old, change), mode)
    assert (problems == []) == (mode in ALLOWED[change]), problems


def test_the_problems_say_what_changed():
    old = ingest()
    assert generate.breaking_changes(old, changed(old, add_required), "backward") == ["priority: became required"]
    assert generate.breaking_changes(old, changed(old, remove_required), "forward") == ["ingested_at: removed"]
    assert generate.breaking_changes(old, changed(old, make_optional), "forward") == ["ingested_at: became optional"]
    [retyped] = generate.breaking_changes(old, changed(old, retype), "full")  # once, though both ways break
    assert retyped.startswith('url: type changed from {"anyOf": [{') and retyped.endswith('to {"type": "integer"}')


def test_an_unknown_mode_stops_the_registry_from_loading(tmp_path):
    for path in TOPICS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    target = tmp_path / f"{TOPICS.fetched.name}.yaml"
    target.write_text(target.read_text().replace("compatibility: backward", "compatibility: backwards"))
    with pytest.raises(ValueError, match=r"articles.fetched.yaml: compatibility 'backwards' is not one of "
                                         r"backward, forward, full, none"):
        load_registry(tmp_path)


@pytest.mark.parametrize("mode, breaking", [("backward", False), ("forward", True), ("full", True), ("none", False)])
def test_the_schema_check_applies_each_topics_declared_mode(tmp_path, monkeypatch, mode, breaking):
    # the checked-in schema still has a required property that the model has since dropped
    topic = dataclasses.replace(TOPICS.ingest, compatibility=mode)
    checked_in = changed(generate.schema_of(topic), lambda s: (s["properties"].__setitem__("lang", {"type": "string"}),
                                                               s["required"].append("lang")))
    (tmp_path / f"{topic.name}.json").write_text(json.dumps(checked_in))
    monkeypatch.setattr(generate, "OUT", tmp_path)
    monkeypatch.setattr(generate, "TOPICS", [topic])
    problems = generate.check()
    assert f"{topic.name}.json: stale (run make schemas)" in problems
    assert (f"{topic.name} v{topic.version} ({mode}): lang: removed" in problems) is breaking


def test_every_topic_declares_a_known_mode():
    assert {t.compatibility for t in TOPICS} <= set(COMPATIBILITY)
