"""The messages that travel between newsflow's stages, one frozen pydantic model per message kind.

Flow (topic -> model):
    articles.ingest     IngestRequest      pushed by users / the CLI
    articles.fetched    FetchedArticle     fetcher: the page or text to clean
    articles.cleaned    CleanedArticle     cleaner: the article body and what was removed
    articles.extracted  ExtractedArticle   extractor: entities, dates, quotes, keywords, ...
    events.enriched     EnrichedEvent      indexer: what subscribers receive
    articles.dlq        DeadLetter         any stage: a message it could not process
    articles.dlq.replays Replay            newsflow dlq replay: which dead letter went again, when, where to

Rules (README.md, "Topics and their messages"): every message is keyed by its ``article_id`` and carries ``ingested_at``;
consumers ignore unknown fields, so adding an optional field needs no new version; removing or retyping
a field is breaking and needs a new model version (``tests/contract/test_schemas.py`` enforces this).
Transport metadata (topic, partition, offset, headers) never goes into a payload. Pure data: nothing here
talks to Kafka or does I/O.
"""

from __future__ import annotations

import enum
import hashlib
import datetime as dt
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

ARTICLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a timezone (use UTC, e.g. 2024-01-01T00:00:00Z)")
    return value.astimezone(timezone.utc)


def make_article_id(url: str | None = None, content: str | None = None) -> str:
    """The default article id: 16 hex digits of sha256 over the URL (scheme and host lower-cased, fragment
    dropped) or over the content (whitespace-trimmed). Pushing the same URL or text again gives the same id,
    so it replaces its document instead of adding one. Producers may use any id matching ARTICLE_ID_PATTERN."""
    if url is not None:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url.strip())
        basis = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))
    elif content is not None:
        basis = content.strip()
    else:
        raise ValueError("make_article_id needs a url or content")
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:16]


ArticleId = Annotated[str, Field(pattern=ARTICLE_ID_PATTERN, description="Stable id; the Kafka key of every message")]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Message(BaseModel):
    """Base of every payload: frozen, unknown fields ignored, parsed straight from bytes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_bytes(cls, raw: bytes):
        return cls.model_validate_json(raw)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class StageName(str, enum.Enum):
    """The four stages' names, as they travel in messages (``StageTiming.stage``, ``DeadLetter.stage``) and label
    metrics. Named ``StageName`` so that it is never confused with services.runtime.stage.Stage (a stage's
    definition); its values are the wire format and never change."""

    fetcher = "fetcher"
    cleaner = "cleaner"
    extractor = "extractor"
    indexer = "indexer"


class StageTiming(Message):
    """How long one stage took over one article; the stage runner appends one per stage (steps never do)."""

    stage: StageName
    seconds: float = Field(ge=0, description="Time the stage spent processing this article")
    finished_at: UtcDatetime


class ArticleMessage(Message):
    """What every message about an article carries: its id (the Kafka key) and when it was first pushed. Never
    transport metadata (topic, partition, offset, headers): that travels beside the payload."""

    article_id: ArticleId
    ingested_at: UtcDatetime = Field(description="When the article was first pushed to articles.ingest")
    replayed_at: UtcDatetime | None = Field(
        default=None, description="When `newsflow dlq replay` sent it again; latency is measured from here when set"
    )


class IngestRequest(ArticleMessage):
    """One article to process: exactly one of ``url``, ``html`` or ``text``."""

    url: str | None = Field(default=None, pattern=r"^https?://", max_length=8192)
    html: str | None = None
    text: str | None = None
    title: str | None = None
    source: str | None = Field(default=None, description="Publisher or feed name, free text")
    metadata: dict[str, str] = Field(default_factory=dict, description="Opaque key/values carried to the event")

    @model_validator(mode="after")
    def _exactly_one_body(self) -> IngestRequest:
        given = [name for name in ("url", "html", "text") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of url, html, text is required (got {given or 'none'})")
        return self


CARRIED_FIELDS = ("article_id", "ingested_at", "replayed_at", "url", "source", "metadata", "timings")
# What the cleaner reads from the page about the article (ArticleMeta), carried unchanged after it.
META_FIELDS = (
    "published_at", "modified_at", "authors", "agency", "canonical_url", "site_name", "description", "image",
    "language", "section", "tags",
)


def carried(message: Message, *more: str) -> dict:
    """Keyword arguments for the next stage's message: the fields every stage carries forward unchanged (those
    ``message`` has) and ``more`` of its own."""
    fields = type(message).model_fields
    return {name: getattr(message, name) for name in (*CARRIED_FIELDS, *META_FIELDS, *more) if name in fields}


class Carried(ArticleMessage):
    """Fields every stage after ingest carries forward unchanged."""

    url: str | None = None
    source: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    timings: tuple[StageTiming, ...] = ()

    def with_timing(self, timing: StageTiming):
        """A copy with one more stage timing (added by the stage runner, so steps stay pure)."""
        return self.model_copy(update={"timings": (*self.timings, timing)})


class FetchedArticle(Carried):
    """A page or a text, ready to be cleaned."""

    kind: Literal["html", "text"]
    body: str
    title: str | None = None
    final_url: str | None = Field(default=None, description="URL after redirects, when fetched")
    http_status: int | None = None
    content_type: str | None = None
    fetched_bytes: int = Field(default=0, ge=0)


class BoilerplateCategory(str, enum.Enum):
    """Why the cleaner removed a block or a line (the keys of ``removed``, the ``category`` label of a metric);
    a closed list, so labels stay bounded."""

    navigation = "navigation"
    newsletter = "newsletter"
    app_promotion = "app_promotion"
    share_social = "share_social"
    cookie_consent = "cookie_consent"
    related_links = "related_links"
    advertising = "advertising"
    legal = "legal"
    feed_notice = "feed_notice"
    comments = "comments"
    other = "other"
    metadata = "metadata"  # not boilerplate: a byline, "Published ..." or agency line that became ArticleMeta fields


PAGE_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$"


class PageDate(Message):
    """A date an article gives for itself, and where it was found."""

    value: str = Field(
        pattern=PAGE_DATE_PATTERN,
        description="ISO 8601: a date alone (2025-03-03) when the source gives only a day; a date and time, with "
        "its UTC offset where the source gives one (2025-03-03T14:05:00+01:00)",
    )
    provenance: str = Field(
        description="Where it came from, e.g. jsonld:datePublished, meta:article:published_time, time[datetime], "
        "url, text:dateline, ingest:metadata"
    )

    @property
    def day(self) -> dt.date:
        return dt.date.fromisoformat(self.value[:10])


class ArticleMeta(Carried):
    """What a page or a text says about its article (all optional), found by the cleaner and carried unchanged
    to the event; values pushed in the ingest request's ``metadata`` win over what the page says."""

    published_at: PageDate | None = None
    modified_at: PageDate | None = None
    authors: tuple[str, ...] = Field(default=(), description="Person names, without 'By', roles or agencies")
    agency: str | None = Field(default=None, description="News agency named by the byline or text (AP, Reuters...)")
    canonical_url: str | None = Field(default=None, description="Canonical URL, tracking parameters removed")
    site_name: str | None = None
    description: str | None = None
    image: str | None = None
    language: str | None = Field(default=None, description="BCP 47 tag from the page's markup, checked against the text")
    section: str | None = None
    tags: tuple[str, ...] = ()


class CleanedArticle(ArticleMeta):
    """The article body alone, and what the cleaner removed, by category (counts of blocks or lines)."""

    title: str | None = None
    text: str
    removed: dict[BoilerplateCategory, int] = Field(default_factory=dict)


class EntityLabel(str, enum.Enum):
    """The kinds of named entity the extractor reports, with spaCy's label names as values (the ``label``
    metric label); a closed list, so labels stay bounded."""

    person = "PERSON"
    organisation = "ORG"
    place = "GPE"
    location = "LOC"
    facility = "FAC"
    nationality = "NORP"
    event = "EVENT"
    product = "PRODUCT"
    work_of_art = "WORK_OF_ART"
    law = "LAW"
    language = "LANGUAGE"


class Span(Message):
    """A piece of the clean text, by character offsets into it; the base of every mention the extractor
    reports."""

    text: str
    start: int = Field(ge=0, description="Character offset into the clean text")
    end: int = Field(ge=0)


class Entity(Span):
    """A named entity mention (a person, an organisation, a place ...)."""

    label: EntityLabel


class DateMention(Span):
    """A date written in the text, resolved to a calendar date where it can be."""

    date: dt.date | None = Field(None, description="The calendar date it resolves to, relative to `anchor`")
    anchor: Literal["published_at", "ingested_at"] | None = Field(
        None, description="What a relative date was resolved against: the publication date when known"
    )


class Quantity(Span):
    """A number written in the text, with its value and unit where they can be read."""

    value: float | None = None
    unit: str | None = None


class Quote(Span):
    """A quotation in the text, with its speaker where the text names one."""

    speaker: str | None = None


class Extraction(Message):
    """What the extractor finds in a clean text (also what `newsflow extract` prints per line)."""

    language: str = Field(description="ISO 639-1 code, or 'und' when unknown")
    entities: tuple[Entity, ...] = ()
    people: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    dates: tuple[DateMention, ...] = ()
    quantities: tuple[Quantity, ...] = ()
    quotes: tuple[Quote, ...] = ()
    keywords: tuple[str, ...] = ()
    summary: str = ""
    truncated: bool = Field(False, description="True when the text was longer than the extractor analyses")
    analysed_chars: int | None = Field(None, ge=0, description="How many characters of the text were analysed")


class ExtractedArticle(ArticleMeta):
    """The cleaned article with what the extractor found in it, ready to be indexed."""

    title: str | None = None
    text: str
    removed: dict[BoilerplateCategory, int] = Field(default_factory=dict)
    extraction: Extraction


class EnrichedEvent(ArticleMeta):
    """What subscribers of events.enriched receive: one per article (re-sent when an article is re-pushed)."""

    title: str | None = None
    text: str
    removed: dict[BoilerplateCategory, int] = Field(default_factory=dict)
    extraction: Extraction
    content_hash: str = Field(description="sha256 of the normalised clean text")
    duplicate_of: ArticleId | None = Field(
        default=None,
        description="The story's canonical copy when this article is a copy of it (the same or nearly the same "
        "clean text): the earliest by publication time where known, else by ingest time",
    )
    story_id: str | None = Field(
        default=None, description="The story this article belongs to: every copy of one story has the same id"
    )
    copies: int | None = Field(default=None, ge=1, description="How many copies of the story the index holds so far")
    similarity: float | None = Field(
        default=None, ge=0, le=1, description="Similarity to the canonical copy (1.0 for the canonical one itself)"
    )
    indexed_at: UtcDatetime
    stage_seconds: dict[StageName, float] = Field(default_factory=dict)
    end_to_end_seconds: float = Field(ge=0, description="From ingested_at (or replayed_at, when set) to indexed_at")

    def with_timing(self, timing: StageTiming):
        seconds = {**self.stage_seconds, timing.stage: timing.seconds}
        return self.model_copy(update={"timings": (*self.timings, timing), "stage_seconds": seconds})


class DeadLetter(Message):
    """A message a stage could not process, with why, and its original bytes (base64 in JSON)."""

    model_config = ConfigDict(frozen=True, extra="ignore", ser_json_bytes="base64", val_json_bytes="base64")

    stage: StageName
    reason: str = Field(description="Machine-readable reason, one of services.runtime.errors.Reason")
    detail: str = Field(description="Human-readable explanation")
    error_class: str
    source_topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes = Field(description="The original message bytes, unchanged (unless value_truncated)")
    value_truncated: bool = Field(
        False, description="True when the original was too large to carry: value holds its first 64 KiB and the "
        "whole original stays at source_topic/partition/offset"
    )
    value_size: int | None = Field(None, description="Size of the original in bytes, when truncated")
    value_sha256: str | None = Field(None, description="sha256 of the original, when truncated")
    headers: dict[str, str] = Field(default_factory=dict)
    failed_at: UtcDatetime
    attempts: int = 1


class Replay(Message):
    """One ``newsflow dlq replay`` of one dead letter: when, by whom, and where the original went again. Keyed by
    the dead letter's offset in articles.dlq (one partition), so the topic, compacted, keeps each one's last replay."""

    dlq_offset: int = Field(ge=0, description="The dead letter's offset in articles.dlq")
    replayed_at: UtcDatetime
    topic: str = Field(description="Where the original was re-sent (the dead letter's source topic)")
    partition: int = Field(ge=0)
    offset: int = Field(ge=0, description="The re-sent message's offset in that topic")
    by: str | None = Field(default=None, description="user@host that ran the replay")


MODELS: tuple[type[Message], ...] = (
    IngestRequest,
    FetchedArticle,
    CleanedArticle,
    ExtractedArticle,
    EnrichedEvent,
    DeadLetter,
    Replay,
)
