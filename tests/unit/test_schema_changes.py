"""The schema check's idea of a breaking change: what changes bytes on the wire, not what renames a class."""

from __future__ import annotations

import copy
import json

from schemas import generate
from schemas.topics import TOPICS


def dlq_schema() -> dict:
    return generate.schema_of(TOPICS.dlq)


def renamed_def(schema: dict, old: str, new: str) -> dict:
    """``schema`` as it was when its $defs model ``new`` was called ``old``."""
    text = json.dumps(schema).replace(f'"#/$defs/{new}"', f'"#/$defs/{old}"')
    renamed = json.loads(text)
    renamed["$defs"][old] = {**renamed["$defs"].pop(new), "title": old}
    return renamed


def test_renaming_an_enum_class_is_not_breaking():
    # schemas.messages.Stage became StageName: the $defs entry and its title changed, the values did not
    new = dlq_schema()
    assert generate.breaking_changes(renamed_def(new, "Stage", "StageName"), new) == []


def test_an_enum_may_gain_values_but_not_lose_them():
    old = dlq_schema()
    gained = copy.deepcopy(old)
    gained["$defs"]["StageName"]["enum"].append("summariser")
    assert generate.breaking_changes(old, gained) == []
    lost = copy.deepcopy(old)
    lost["$defs"]["StageName"]["enum"].remove("indexer")
    assert [p.split(":")[0] for p in generate.breaking_changes(old, lost)] == ["stage"]


def test_retyping_removing_or_requiring_a_property_is_breaking():
    old = dlq_schema()
    new = copy.deepcopy(old)
    new["properties"]["stage"] = {"type": "string"}
    del new["properties"]["detail"]
    new["required"].append("headers")
    problems = generate.breaking_changes(old, new, "full")  # removing a required property breaks forward
    assert any(p.startswith("stage: type changed") for p in problems)
    assert "detail: removed" in problems and "headers: became required" in problems
