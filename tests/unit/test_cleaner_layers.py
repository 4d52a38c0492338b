"""The cleaner's structure: one-way layers, model files checked against the features table, triggers derived from
the vocabulary's patterns, and a bug inside the cleaner reported as a bug (processing_error), not as bad input."""

from __future__ import annotations

import ast
import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from schemas.messages import DeadLetter, FetchedArticle, StageName
from schemas.topics import TOPICS
from services.cleaner import features as F
from services.cleaner import text as text_mode
from services.cleaner.logic import clean, clean_batch
from services.cleaner.model import HTML_MODEL_PATH, MODEL_PATH, ModelMismatch, check_features, load_model
from services.cleaner.vocabulary import _triggers
from services.runtime.errors import PermanentError, Reason
from services.runtime.metrics import stage_metrics
from services.runtime.settings import KafkaSettings, StageSettings
from services.runtime.stage import Delivery, Stage, StageRunner

CLEANER = Path(__file__).resolve().parents[2] / "services" / "cleaner"
# Each module may import only the modules before it (services.cleaner.*): the layers, bottom up.
LAYERS = ("vocabulary", "features", "model", "textmeta", "meta", "text", "html", "logic", "batch", "settings",
          "service", "__main__")
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
STORY = ("The council approved the new library budget on Tuesday after a long debate about opening hours. "
         "Residents had asked for the branch to stay open on Sundays, and the mayor said the city would try.")


def _cleaner_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "services.cleaner":
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("services.cleaner."):
            names.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[2] for a in node.names if a.name.startswith("services.cleaner."))
    return names


def test_the_cleaner_s_modules_import_one_way():
    modules = {p.stem for p in CLEANER.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS), "a new module of services/cleaner/ needs its place in LAYERS"
    for i, name in enumerate(LAYERS):
        imported = _cleaner_imports(CLEANER / f"{name}.py")
        assert imported <= set(LAYERS[:i]), f"{name} imports {sorted(imported - set(LAYERS[:i]))} from above it"


def test_every_cleaner_module_and_public_class_says_what_it_is_for():
    for path in CLEANER.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), path.name
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                assert ast.get_docstring(node), f"{path.name}: {node.name}"


# ------------------------------------------------------------------------------------- model files
def test_the_shipped_models_match_the_features_table():
    for path in (MODEL_PATH, HTML_MODEL_PATH):
        assert json.loads(path.read_text(encoding="utf-8"))["features"] == list(F.FEATURES)
        assert load_model(str(path))["stage1"]


def test_a_model_trained_on_other_features_is_refused_at_load_naming_them(tmp_path):
    names = list(F.FEATURES)
    with pytest.raises(ModelMismatch, match=r"missing \['cjk_share'\], extra \[\], reordered \[\]"):
        check_features(names[:-1])
    with pytest.raises(ModelMismatch, match=r"missing \[\], extra \['retired'\]"):
        check_features([*names, "retired"])
    swapped = [names[1], names[0], *names[2:]]
    with pytest.raises(ModelMismatch, match=r"reordered \['log_chars', 'log_words'\]"):
        check_features(swapped)
    raw = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    raw["features"] = swapped
    other = tmp_path / "lines.json"
    other.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ModelMismatch, match=str(other)):
        load_model(str(other))


# ------------------------------------------------------------------------------------- vocabulary
def test_triggers_are_derived_from_the_marked_words_of_every_alternative():
    assert _triggers(r"\b<subscrib>(?:e|ing) to\b|\bour <app>\b|\b<like|join> us") == {"subs", "app", "like", "join"}
    with pytest.raises(ValueError, match="no required"):
        _triggers(r"\b<read> more\b|\bsee also\b")  # the second alternative has no trigger
    with pytest.raises(ValueError, match="no required"):
        _triggers(r"(?:also <read>)")  # inside a group: not known to be required
    with pytest.raises(ValueError, match="no required"):
        _triggers(r"\b<read>? more")  # optional
    with pytest.raises(ValueError, match="longer token"):
        _triggers(r"\b<ad> ?choices\b")  # "adchoices" is one token, not "ad"


# ------------------------------------------------------------------------------------- bugs vs bad input
def _article(kind: str, body: str) -> FetchedArticle:
    return FetchedArticle(article_id="a1", ingested_at=NOW, url="https://example.com/a", kind=kind, body=body,
                          http_status=200)


def _page() -> str:
    return f"<html><head><title>Library</title></head><body><article><h1>Library</h1><p>{STORY}</p>" \
           f"<p>{STORY}</p></article></body></html>"


@pytest.fixture
def broken_model(monkeypatch):
    def boom(x, model):
        raise RuntimeError("a bug in the line model")

    monkeypatch.setattr(text_mode, "score_lines", boom)


def test_unusable_input_is_still_empty_content():
    for article in (_article("text", "   \n "), _article("html", "   "), _article("html", "\x00\x00")):
        with pytest.raises(PermanentError) as raised:
            clean(article)
        assert raised.value.reason is Reason.empty_content


@pytest.mark.usefixtures("broken_model")
def test_a_bug_inside_the_cleaner_propagates_out_of_clean_not_as_empty_content():
    for article in (_article("text", f"Library\n\n{STORY}\n\n{STORY}"), _article("html", _page())):
        with pytest.raises(RuntimeError, match="a bug in the line model"):
            clean(article)
    results = clean_batch([_article("text", "  "), _article("text", f"Library\n\n{STORY}")])
    assert isinstance(results[0], PermanentError) and results[0].reason is Reason.empty_content
    assert isinstance(results[1], RuntimeError) and not isinstance(results[1], PermanentError)


class _Settings(StageSettings):
    metrics_port: int = 0
    web_port: int = 0


@pytest.mark.usefixtures("broken_model")
def test_the_runner_dead_letters_a_cleaner_bug_as_processing_error():
    async def send(topic, key, value, headers):
        sent.append(topic)

    async def sleep(seconds):
        pass

    sent: list[str] = []
    stage = Stage(StageName.cleaner, TOPICS.fetched, TOPICS.cleaned, clean, step_batch=clean_batch)
    runner = StageRunner(stage, _Settings(), KafkaSettings(), stage_metrics("cleaner"), send, sleep=sleep)
    value = _article("text", f"Library\n\n{STORY}").to_bytes()
    letter = asyncio.run(runner.handle(Delivery(topic="articles.fetched", partition=0, offset=3, key=b"a1",
                                                value=value, headers={})))
    assert isinstance(letter, DeadLetter)
    assert letter.reason == Reason.processing_error.value and letter.error_class == "RuntimeError"
