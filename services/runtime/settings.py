"""Typed settings, read once at start from environment variables (and an optional ``.env`` file).

Every service reads ``NEWSFLOW_KAFKA_*`` for the cluster and ``NEWSFLOW_<SERVICE>_*`` for itself, e.g.
``NEWSFLOW_KAFKA_BOOTSTRAP_SERVERS=broker1:9092,broker2:9092`` or ``NEWSFLOW_FETCHER_MAX_BYTES=5000000``.
Secrets are ``SecretStr`` and print masked. Values are passed down by constructors; no logic reads
``os.environ``.

What differs between the four stages by default (metrics and web ports, window and in-flight bounds) is one
row each of :data:`STAGE_DEFAULTS`, the one place those values are written: each service's settings class
(``services/<name>/settings.py``) is built by :func:`stage_settings` from its row, ``newsflow status`` and the
tests read the table, and tests/deploy/test_ports.py checks every port written in deploy/, docker-compose.yml
and the Dockerfile against it. This module reads settings only: no Kafka, no faust, no I/O beyond the
environment and ``.env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NamedTuple

from pydantic import Field, SecretStr, create_model, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.runtime.breaker import SYSTEMIC
from services.runtime.errors import Reason

ROOT = Path(__file__).resolve().parents[2]


class KafkaSettings(BaseSettings):
    """The cluster every process talks to (``NEWSFLOW_KAFKA_*``): servers, security, topic prefix and the
    partitions and replication of the topics newsflow creates. Connection options only: it opens nothing."""

    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_KAFKA_", env_file=".env", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    replication_factor: int = Field(1, ge=1, description="Replication of topics newsflow creates (3 in production)")
    topic_prefix: str = Field("", description="Prefix for every topic name (lets tests and tenants share a cluster)")
    partitions: int | None = Field(
        None, ge=1, description="Partitions of each pipeline topic newsflow creates (default: its topic file, 8): "
        "the most processes of one service that share its work. The dead-letter topic keeps its one partition "
        "(`newsflow dlq replay --offsets` addresses its offsets)"
    )

    def partitions_of(self, topic) -> int:
        """The partition count to create ``topic`` (a schemas.topics.Topic) with."""
        if self.partitions is None or topic.partitions == 1:
            return topic.partitions
        return self.partitions

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def kafka_python_config(self) -> dict:
        """Connection options for kafka-python clients (the CLI, admin and tests)."""
        config: dict = {"bootstrap_servers": self.servers, "security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value() if self.sasl_password else None,
            )
        return config

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


class StageSettings(BaseSettings):
    """Settings every stage has, with their bounds and descriptions; each service's settings class derives from
    :func:`stage_settings` (its ``env_prefix`` and its row of :data:`STAGE_DEFAULTS`), never from this class
    directly, so that no stage default is written twice."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    metrics_port: int = Field(description="Port of the Prometheus /metrics endpoint (0: do not serve)")
    metrics_host: str = "127.0.0.1"
    web_port: int = Field(description="Port of faust's own web server, only when web_enabled")
    web_enabled: bool = False
    log_level: str = "info"
    data_dir: Path = ROOT / ".data" / "faust"
    max_attempts: int = Field(4, ge=1, description="Tries of a transient failure before dead-lettering it")
    retry_backoff_seconds: float = Field(0.5, gt=0, description="First retry delay; doubles each try")
    dlq_max_consecutive: int = Field(50, ge=0, description="Circuit breaker: halt after this many dead letters in a row (0: off)")
    dlq_max_ratio: float = Field(0.5, ge=0, le=1, description="Circuit breaker: halt above this share of dead letters (0: off)")
    dlq_window: int = Field(200, ge=1, description="Circuit breaker: messages the share is computed over")
    breaker_reasons: Annotated[frozenset[Reason], NoDecode] = Field(
        SYSTEMIC, description="Circuit breaker: the dead-letter reasons it counts, comma-separated (those that say "
        "the stage or its input stream is broken; empty: none, the breaker never trips). An article's own "
        "outcome (http_status, blocked_address, too_large, empty_content...) should never be one of them"
    )
    session_timeout_seconds: float = Field(
        15.0, gt=1, description="Consumer group session timeout: how soon a dead process's partitions move on"
    )
    lag_interval_seconds: float = Field(5.0, gt=0, description="How often the consumer lag gauge is refreshed")
    window_size: int = Field(32, ge=1, description="Most messages taken into one window (processed together)")
    window_ms: float = Field(10.0, ge=0, description="Longest wait for a window to fill (added latency when idle)")
    max_in_flight: int = Field(
        128, ge=1, description="Most messages taken and not yet committable per process (backpressure)"
    )
    targets_dir: Path = Field(
        ROOT / ".data" / "targets", description="Where the process announces its metrics endpoint (Prometheus file_sd)"
    )

    @field_validator("breaker_reasons", mode="before")
    @classmethod
    def _reasons(cls, value):
        """``processing_error,malformed_json`` (the environment's form) -> a set of Reason; an unknown name is
        an error at start, naming the valid ones."""
        if isinstance(value, str):
            names = [name.strip() for name in value.split(",") if name.strip()]
            unknown = sorted(set(names) - {r.value for r in Reason})
            if unknown:
                raise ValueError(f"unknown reasons {unknown}; valid: {', '.join(r.value for r in Reason)}")
            return frozenset(Reason(name) for name in names)
        return value


class StageDefaults(NamedTuple):
    """One stage's defaults of the :class:`StageSettings` fields that differ between stages."""

    metrics_port: int
    web_port: int
    window_size: int
    max_in_flight: int


# Every stage's defaults, in pipeline order: the one place they are written (see the module docstring).
STAGE_DEFAULTS: dict[str, StageDefaults] = {
    # max_in_flight above fetch_concurrency: URLs waiting for their host's slot hold no fetch slot
    "fetcher": StageDefaults(metrics_port=9101, web_port=6101, window_size=64, max_in_flight=256),
    "cleaner": StageDefaults(metrics_port=9102, web_port=6102, window_size=16, max_in_flight=64),
    # window_size: spaCy is no faster in bigger batches; a batch's articles wait for its longest
    "extractor": StageDefaults(metrics_port=9103, web_port=6103, window_size=8, max_in_flight=64),
    "indexer": StageDefaults(metrics_port=9104, web_port=6104, window_size=64, max_in_flight=256),
}
STAGES = tuple(STAGE_DEFAULTS)


def stage_settings(stage: str) -> type[StageSettings]:
    """The base of ``stage``'s settings class: StageSettings read from ``NEWSFLOW_<STAGE>_*``, with the stage's
    row of STAGE_DEFAULTS as defaults (each field keeps StageSettings' bounds and description)."""
    fields = StageSettings.model_fields
    defaults = {name: (fields[name].annotation, FieldInfo.merge_field_infos(fields[name], default=value))
                for name, value in STAGE_DEFAULTS[stage]._asdict().items()}
    return create_model(f"{stage.title()}StageSettings", __base__=StageSettings, __module__=__name__,
                        __cls_kwargs__={"env_prefix": f"NEWSFLOW_{stage.upper()}_"}, **defaults)


def metrics_address(stage: str) -> str:
    """``host:port`` where ``stage``'s metrics are served by default (a single process of it on this machine)."""
    return f"{StageSettings.model_fields['metrics_host'].default}:{STAGE_DEFAULTS[stage].metrics_port}"
