"""Generate the checked-in JSON Schemas (``schemas/jsonschema/<topic>.json``) from the models, and check that
a change is backward compatible. ``python -m schemas.generate`` rewrites them (``make schemas``);
``python -m schemas.generate --check`` fails when they are stale or when a change is breaking.

Breaking (needs a new model version, i.e. a new ``version`` in the topic file): removing a property, making a
property required that was not, or changing a property's type. Adding optional properties is not breaking, nor
adding a value to an enum, nor renaming an enum's class (the wire carries its values, not its name). Writes only
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


def breaking_changes(old: dict, new: dict, path: str = "", defs: tuple[dict, dict] | None = None) -> list[str]:
    """Human-readable breaking changes from ``old`` to ``new`` (top level and every $defs model)."""
    old_defs, new_defs = defs or (old.get("$defs", {}), new.get("$defs", {}))
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, prop in old_props.items():
        where = f"{path}{name}"
        if name not in new_props:
            problems.append(f"{where}: removed")
            continue
        was, now = _types(prop, old_defs), _types(new_props[name], new_defs)
        if not _reads(was, now):
            problems.append(f"{where}: type changed from {json.dumps(was, sort_keys=True)} to "
                            f"{json.dumps(now, sort_keys=True)}")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}{name}: became required")
    for name, definition in old.get("$defs", {}).items():
        if name in new.get("$defs", {}):
            problems += breaking_changes(definition, new["$defs"][name], f"{path}{name}.", (old_defs, new_defs))
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
            problems += [f"{topic.name} v{topic.version}: {p}" for p in breaking_changes(old, new)]
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
