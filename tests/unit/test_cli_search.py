"""``newsflow search`` with its filters and order, on a real SQLite store written by the indexer's code."""

from __future__ import annotations

import json
import sqlite3

import pytest

from services.cli.main import main
from services.indexer import store
from services.indexer.store import SqliteIndex
from tests.unit.test_indexer import metadata_index


@pytest.fixture
def index_path(tmp_path, monkeypatch):
    path = tmp_path / "index" / "newsflow.db"
    metadata_index(path).close()
    monkeypatch.setenv("NEWSFLOW_INDEXER_DB_PATH", str(path))
    return path


def search(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(["search", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_search_filters_and_sorts_by_date(index_path, capsys):
    code, lines, _ = search(capsys, "Geneva", "--site", "reuters.com", "--sort", "date")
    assert code == 0
    assert [line.split()[0] for line in lines] == ["early", "old"]
    assert lines[1].startswith("old  2021-12-28  Reuters  'Story old'  ")
    code, lines, _ = search(capsys, "Geneva", "--since", "2022-01-01", "--until", "2022-01-10", "--json")
    assert code == 0 and [json.loads(line)["article_id"] for line in lines] == ["late"]
    assert json.loads(lines[0])["authors"] == ["Renée Côté"] and json.loads(lines[0])["site_name"] == "Le Monde"
    code, lines, _ = search(capsys, "--author", "Jane Doe")  # no words: what the filter keeps, newest first
    assert code == 0 and [line.split()[0] for line in lines] == ["old"]


def test_search_says_when_nothing_matches_or_nothing_was_asked(index_path, capsys):
    code, lines, err = search(capsys, "Geneva", "--author", "Nobody")
    assert code == 1 and lines == [] and "no hits" in err
    code, lines, err = search(capsys)
    assert code == 2 and "filter" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "Geneva", "--since", "last week"])
    assert exit_info.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err


def test_search_migrates_an_old_index_it_reads(index_path, capsys):
    index = SqliteIndex(index_path)  # the index as an indexer before issue 11 left it: no metadata tables
    index.db.executescript("DROP TABLE document_meta; DROP TABLE document_authors; PRAGMA user_version = 0;")
    index.close()
    code, lines, _ = search(capsys, "Geneva", "--site", "Le Monde")  # filled again from documents.event
    assert code == 0 and [line.split()[0] for line in lines] == ["late"]


def test_search_says_so_when_an_old_index_cannot_be_upgraded(index_path, capsys, monkeypatch):
    index = SqliteIndex(index_path)
    index.db.executescript("DROP TABLE document_meta; DROP TABLE document_authors; PRAGMA user_version = 0;")
    index.close()

    def read_only(path):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store, "migrate", read_only)
    code, lines, err = search(capsys, "Geneva")
    assert code == 2 and lines == [] and "older newsflow" in err and "start the indexer" in err
