"""Generate the checked-in JSON Schemas (``schemas/jsonschema/<topic>.json``) from the models, and check that
a change keeps the compatibility its topic declares. ``python -m schemas.generate`` rewrites them
(``make schemas``); ``python -m schemas.generate --check`` fails when they are stale or when a change is breaking.

Breaking (needs a new model version, i.e. a new ``version`` in the topic file) depends on the topic's
``compatibility`` (schemas.topics.COMPATIBILITY, as Confluent's Schema Registry defines the modes), checked as
"can a consumer on schema R read a message written with schema W": ``backward`` (R = new, W = old) refuses a
property that became required (or was added required) and a type that no longer takes every old value (an enum
may gain values, not lose them); ``forward`` (R = old, W = new) refuses removing a required property, making it
optional, and a type that takes values the old one did not (an enum may lose values, not gain them); ``full``
refuses both; ``none`` nothing. Consumers ignore unknown fields, so removing or adding an optional property is
never breaking, nor renaming an enum's class (the wire carries its values, not its name). Writes only
``schemas/jsonschema/``; it never talks to Kafka.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.topics import TOPICS, Topic

OUT = Path(__file__).with_name("jsonschema")


def schema_of(topic: Topic) -> dict:
    schema = topic.model.model_json_schema(mode="validation")
    schema["$id"] = f"https://newsflow.dev/schemas/{topic.name}/v{topic.version}.json"
    schema["x-topic"] = topic.name
    schema["x-version"] = topic.version
    return schema


def render(topic: Topic) -> str:
    return json.dumps(schema_of(topic), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _types(prop: dict, defs: dict) -> dict:
    """A property's type as it is on the wire: a ``$ref`` to an enum stands for the enum's type and values, so
    renaming an enum's class (its $defs title) changes nothing; a ``$ref`` to a model stays a reference (its
    fields are checked as a $defs model)."""
    return _resolved({k: prop[k] for k in ("type", "$ref", "anyOf", "items", "enum") if k in prop}, defs)


def _resolved(node, defs: dict):
    if isinstance(node, list):
        return [_resolved(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    target = defs.get(str(node.get("$ref", "")).rpartition("/")[2], {})
    if "enum" in target:
        return {"type": target.get("type"), "enum": target["enum"]}
    return {key: _resolved(value, defs) for key, value in node.items()}


def _reads(old, new, key: str = "") -> bool:
    """Whether a property typed ``new`` still takes every value typed ``old`` (an enum may gain values)."""
    if key == "enum":
        return set(old) <= set(new)
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_reads(old[k], new[k], k) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(_reads, old, new))
    return old == new


def breaking_changes(old: dict, new: dict, compatibility: str = "backward") -> list[str]:
    """Human-readable changes from ``old`` to ``new`` that break ``compatibility`` (top level and every $defs
    model); see the module docstring."""
    directions = {"full": ("backward", "forward"), "none": ()}.get(compatibility, (compatibility,))
    problems = []
    if "backward" in directions:  # consumers on the new schema, messages written with the old one
        problems += _unreadable(old, new, "", (old.get("$defs", {}), new.get("$defs", {})), old_writes=True)
    if "forward" in directions:  # consumers on the old schema, messages written with the new one
        problems += _unreadable(new, old, "", (new.get("$defs", {}), old.get("$defs", {})), old_writes=False)
    return list(dict.fromkeys(problems))


def _unreadable(writer: dict, reader: dict, path: str, defs: tuple[dict, dict], old_writes: bool) -> list[str]:
    """What stops a consumer on schema ``reader`` from reading every message valid under ``writer``, in words
    about the change from the old schema to the new one."""
    writer_defs, reader_defs = defs
    problems = []
    written, read = writer.get("properties", {}), reader.get("properties", {})
    guaranteed = set(writer.get("required", [])) & written.keys()  # what every written message carries
    for name in sorted(set(reader.get("required", [])) - guaranteed):
        if old_writes:
            problems.append(f"{path}{name}: became required")
        else:
            problems.append(f"{path}{name}: {'became optional' if name in written else 'removed'}")
    for name in sorted(read.keys() & written.keys()):
        was, now = _types(written[name], writer_defs), _types(read[name], reader_defs)
        if not _reads(was, now):
            old_type, new_type = (was, now) if old_writes else (now, was)
            problems.append(f"{path}{name}: type changed from {json.dumps(old_type, sort_keys=True)} to "
                            f"{json.dumps(new_type, sort_keys=True)}")
    for name, definition in writer.get("$defs", {}).items():
        if name in reader.get("$defs", {}):
            problems += _unreadable(definition, reader["$defs"][name], f"{path}{name}.", defs, old_writes)
    return problems


def check() -> list[str]:
    problems = []
    for topic in TOPICS:
        path = OUT / f"{topic.name}.json"
        if not path.exists():
            problems.append(f"{path.name}: missing (run make schemas)")
            continue
        old = json.loads(path.read_text())
        new = schema_of(topic)
        if old.get("x-version") == topic.version:
            problems += [f"{topic.name} v{topic.version} ({topic.compatibility}): {p}"
                         for p in breaking_changes(old, new, topic.compatibility)]
        if path.read_text() != render(topic):
            problems.append(f"{path.name}: stale (run make schemas)")
    return problems


def main() -> int:
    if "--check" in sys.argv:
        problems = check()
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    OUT.mkdir(exist_ok=True)
    for topic in TOPICS:
        (OUT / f"{topic.name}.json").write_text(render(topic))
        print(f"wrote {OUT / (topic.name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
