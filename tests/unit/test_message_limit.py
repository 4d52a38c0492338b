"""The message size limit has one source, the topic registry: every topic is created with it, the clients and the
stage runner read it from there, and the local broker's script asks the registry for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from schemas.topics import DEFAULT_CONFIG, MAX_MESSAGE_BYTES, TOPICS

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy/kafka/kafka.sh"


def test_every_topic_is_created_with_the_registry_s_limit():
    for topic in TOPICS:
        # create_topics passes topic.config as the new topic's configs
        assert topic.config[MAX_MESSAGE_BYTES] == str(topic.max_message_bytes), topic.name
    assert TOPICS.max_message_bytes == max(t.max_message_bytes for t in TOPICS) == int(DEFAULT_CONFIG[MAX_MESSAGE_BYTES])


def test_no_topic_file_repeats_the_default():
    for path in (ROOT / "schemas/topics").glob("*.yaml"):
        assert f"{MAX_MESSAGE_BYTES}: \"{DEFAULT_CONFIG[MAX_MESSAGE_BYTES]}\"" not in path.read_text(), path.name


def test_the_broker_script_reads_message_max_bytes_from_the_registry():
    script = KAFKA_SH.read_text()
    assert "message.max.bytes=$max_bytes" in script and str(TOPICS.max_message_bytes) not in script
    function = subprocess.run(["sed", "-n", "/^message_max_bytes()/,/^}/p", str(KAFKA_SH)],
                              capture_output=True, text=True, check=True).stdout
    out = subprocess.run(["bash", "-c", f"root={ROOT}; python={sys.executable}\n{function}\nmessage_max_bytes"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert int(out) == TOPICS.max_message_bytes
