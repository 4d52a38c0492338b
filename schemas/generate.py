"""Generate the checked-in JSON Schemas (``schemas/jsonschema/<topic>.json``) from the models, and check that
a change is backward compatible. ``python -m schemas.generate`` rewrites them (``make schemas``);
``python -m schemas.generate --check`` fails when they are stale or when a change is breaking.

Breaking (needs a new model version, i.e. a new ``version`` in the topic file): removing a property, making a
property required that was not, or changing a property's type. Adding optional properties is not breaking.
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


def _types(prop: dict) -> str:
    return json.dumps({k: prop.get(k) for k in ("type", "$ref", "anyOf", "items", "enum") if k in prop}, sort_keys=True)


def breaking_changes(old: dict, new: dict, path: str = "") -> list[str]:
    """Human-readable breaking changes from ``old`` to ``new`` (top level and every $defs model)."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, prop in old_props.items():
        where = f"{path}{name}"
        if name not in new_props:
            problems.append(f"{where}: removed")
        elif _types(prop) != _types(new_props[name]):
            problems.append(f"{where}: type changed from {_types(prop)} to {_types(new_props[name])}")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}{name}: became required")
    for name, definition in old.get("$defs", {}).items():
        if name in new.get("$defs", {}):
            problems += breaking_changes(definition, new["$defs"][name], f"{path}{name}.")
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
