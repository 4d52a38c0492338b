"""The topic registry: every topic is declared once, as data, in ``schemas/topics/<name>.yaml``.

Code refers to topics only through :data:`TOPICS` (``TOPICS.ingest.name``, ``TOPICS.dlq.model`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas import messages

TOPICS_DIR = Path(__file__).with_name("topics")


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    model: type[messages.Message]
    version: int
    compatibility: str
    partitions: int
    config: dict[str, str]
    examples: tuple[dict[str, Any], ...] = field(repr=False)

    @property
    def schema_id(self) -> str:
        """Value of the ``newsflow-schema`` header on every message of this topic."""
        return f"{self.model.__name__}/v{self.version}"


@dataclass(frozen=True)
class Registry:
    ingest: Topic
    fetched: Topic
    cleaned: Topic
    extracted: Topic
    enriched: Topic
    dlq: Topic
    dlq_replays: Topic

    def __iter__(self):
        return iter((self.ingest, self.fetched, self.cleaned, self.extracted, self.enriched, self.dlq,
                     self.dlq_replays))

    def by_name(self, name: str) -> Topic:
        for topic in self:
            if topic.name == name:
                return topic
        raise KeyError(name)


def _load(path: Path) -> Topic:
    data = yaml.safe_load(path.read_text())
    return Topic(
        name=data["name"],
        key=data["key"],
        description=" ".join(data["description"].split()),
        producers=tuple(data["producers"]),
        consumers=tuple(data["consumers"]),
        model=getattr(messages, data["model"]),
        version=int(data["version"]),
        compatibility=data["compatibility"],
        partitions=int(data["partitions"]),
        config={k: str(v) for k, v in (data.get("config") or {}).items()},
        examples=tuple(data.get("examples") or ()),
    )


def load_registry(directory: Path = TOPICS_DIR) -> Registry:
    by_key = {t.key: t for t in map(_load, sorted(directory.glob("*.yaml")))}
    return Registry(**by_key)


TOPICS = load_registry()
