"""The topic registry: every topic is declared once, as data, in ``schemas/topics/<name>.yaml``.

Code refers to topics only through :data:`TOPICS` (``TOPICS.ingest.name``, ``TOPICS.dlq.model`` ...), and to the
message size limit only through it (``topic.max_message_bytes``, ``TOPICS.max_message_bytes``): the limit is
declared once, in :data:`DEFAULT_CONFIG`, and a topic file may override it. Loading only reads files: nothing
here talks to Kafka (topic creation is services.runtime.clients.create_topics and deploy/kafka/kafka.sh).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas import messages

TOPICS_DIR = Path(__file__).with_name("topics")
MAX_MESSAGE_BYTES = "max.message.bytes"
# Creation config every topic gets unless its own file sets the key. max.message.bytes is newsflow's one message
# size limit (10 MiB: a large page with its markup); producers, consumers, the stage runner and the broker
# (deploy/kafka/kafka.sh) all read it from here, so raising it is a one-line change.
DEFAULT_CONFIG = {MAX_MESSAGE_BYTES: str(10 * 1024 * 1024)}
# A topic's ``compatibility``: which schema changes its model may make within one ``version``, as Confluent's
# Schema Registry defines the modes (against the checked-in schema, i.e. the last version; no transitive modes).
# schemas.generate.check() applies it; any other value is refused when the registry loads.
COMPATIBILITY = {
    "backward": "consumers on the new schema read messages written with the old one: properties may be removed "
                "and optional ones added; nothing may become required (upgrade consumers first)",
    "forward": "consumers on the old schema read messages written with the new one: properties may be added, "
               "optional ones removed; no required one removed or made optional (upgrade producers first)",
    "full": "backward and forward: only optional properties may be added or removed",
    "none": "no check: any change (use a new version instead where consumers must keep up)",
}


@dataclass(frozen=True)
class Topic:
    """One topic as its file declares it (with :data:`DEFAULT_CONFIG` merged into ``config``); data only."""

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

    @property
    def max_message_bytes(self) -> int:
        """The largest message (record batch) the topic takes: its ``max.message.bytes``."""
        return int(self.config[MAX_MESSAGE_BYTES])


@dataclass(frozen=True)
class Registry:
    """Every topic, by key (``TOPICS.fetched``); iterable in pipeline order. Data only."""

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

    @property
    def max_message_bytes(self) -> int:
        """The largest message any topic takes: what a client that reads or writes several topics (and the
        broker) must allow."""
        return max(topic.max_message_bytes for topic in self)


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
        compatibility=_compatibility(path, data["compatibility"]),
        partitions=int(data["partitions"]),
        config={**DEFAULT_CONFIG, **{k: str(v) for k, v in (data.get("config") or {}).items()}},
        examples=tuple(data.get("examples") or ()),
    )


def _compatibility(path: Path, value: object) -> str:
    if not isinstance(value, str) or value not in COMPATIBILITY:
        raise ValueError(f"{path.name}: compatibility {value!r} is not one of {', '.join(COMPATIBILITY)}")
    return str(value)


def load_registry(directory: Path = TOPICS_DIR) -> Registry:
    by_key = {t.key: t for t in map(_load, sorted(directory.glob("*.yaml")))}
    return Registry(**by_key)


TOPICS = load_registry()
