"""The extractor's logic on the seed article and on odd input (real spaCy model, no broker)."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from pathlib import Path

import pytest

from schemas.messages import CleanedArticle, EntityLabel, ExtractedArticle, Extraction, PageDate, StageTiming
from services.extractor import dates, entities, language, nlp
from services.extractor.batch import extract_jsonl
from services.extractor.logic import extract, extract_batch
from services.extractor.nlp import analyse
from services.extractor.quantities import parse_value

ROOT = Path(__file__).resolve().parents[2]
SEED_NAME = "000_81597562a20f18e4.txt"
SEED = next((p for p in (ROOT / "seeds" / SEED_NAME, ROOT.parent / "shared" / "seeds" / SEED_NAME) if p.exists()),
            ROOT.parent / "shared" / "seeds" / SEED_NAME)
REFERENCE = dt.datetime(2021, 12, 28, 9, 30, tzinfo=dt.timezone.utc)  # a Tuesday
TITLE = "US, Russia set schedule for Ukraine talks in January"


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed(seed_text: str) -> Extraction:
    return analyse(seed_text, REFERENCE, TITLE)


def test_language_is_english(seed: Extraction) -> None:
    assert seed.language == "en"


def test_people(seed: Extraction) -> None:
    for name in ["Biden", "Sergei Ryabkov", "Wendy Sherman", "Lloyd Austin", "Jake Sullivan", "Vladimir Putin",
                 "Michael Kaufman"]:
        assert name in seed.people
    assert "Ryabkov" not in seed.people  # merged into the full name
    assert not any(p.startswith(("Mr", "President")) or p.endswith(("’s", "'s")) for p in seed.people)
    assert seed.people.index("Biden") < seed.people.index("Sergei Ryabkov")  # order of first mention


def test_organisations(seed: Extraction) -> None:
    assert "NATO" in seed.organisations
    assert "National Security Council" in seed.organisations
    assert not any(o.lower().startswith("the ") for o in seed.organisations)
    assert "NSC" not in seed.organisations  # one organisation with "National Security Council"
    assert "Biden’s National Security Council" not in seed.organisations


def test_places(seed: Extraction) -> None:
    for place in ["Geneva", "Brussels", "Ukraine", "Russia"]:
        assert place in seed.places
    assert len(seed.places) == len(set(seed.places))


def test_entity_offsets_are_exact_and_in_order(seed: Extraction, seed_text: str) -> None:
    assert seed.entities
    for entity in seed.entities:
        assert seed_text[entity.start:entity.end] == entity.text
    starts = [e.start for e in seed.entities]
    assert starts == sorted(starts)
    by_text = {(e.text, e.label) for e in seed.entities}
    assert ("Sergei Ryabkov", EntityLabel.person) in by_text
    assert ("Ryabkov", EntityLabel.person) in by_text  # "Mr. Ryabkov": one mention each, title stripped
    assert ("Biden", EntityLabel.person) in by_text  # split out of "Biden’s National Security Council"
    assert not any(e.text.startswith("the ") or e.text.endswith("’s") for e in seed.entities)
    ryabkov = [e for e in seed.entities if e.text in ("Ryabkov", "Sergei Ryabkov")]
    assert len(ryabkov) == 3


def test_dates_resolved_relative_to_reference(seed: Extraction) -> None:
    resolved = {d.text: d.date for d in seed.dates}
    assert resolved["January 12"] == dt.date(2022, 1, 12)
    assert resolved["January 13"] == dt.date(2022, 1, 13)
    assert resolved["December 25"] == dt.date(2021, 12, 25)
    assert resolved["Tuesday"] == dt.date(2021, 12, 28)
    assert resolved["last week"] == dt.date(2021, 12, 21)
    assert resolved["early 2022"] == dt.date(2022, 1, 1)
    assert resolved["recent days"] is None


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("Tuesday", dt.date(2021, 12, 28)),
        ("Friday", dt.date(2021, 12, 31)),
        ("Sunday", dt.date(2022, 1, 2)),
        ("last Friday", dt.date(2021, 12, 24)),
        ("Jan. 12", dt.date(2022, 1, 12)),
        ("12 January 2020", dt.date(2020, 1, 12)),
        ("Dec. 25, 2020", dt.date(2020, 12, 25)),
        ("January", dt.date(2022, 1, 1)),
        ("mid-2022", dt.date(2022, 7, 1)),
        ("yesterday", dt.date(2021, 12, 27)),
        ("two years ago", dt.date(2019, 12, 28)),
        ("the 1990s", None),
        ("more than two years", None),
        ("40 years old", None),
        ("February 30", None),
        ("", None),
    ],
)
def test_date_phrases(phrase: str, expected: dt.date | None) -> None:
    assert dates.resolve(phrase, REFERENCE) == expected


def test_weekday_follows_the_sentence_tense() -> None:
    assert dates.resolve("Friday", REFERENCE, "past") == dt.date(2021, 12, 24)
    assert dates.resolve("Monday", REFERENCE, "future") == dt.date(2022, 1, 3)
    assert dates.resolve("Monday", REFERENCE, "past") == dt.date(2021, 12, 27)
    out = analyse("Angela Merkel met Emmanuel Macron in Paris on Friday. They will meet again on Monday.", REFERENCE)
    assert [d.date for d in out.dates] == [dt.date(2021, 12, 24), dt.date(2022, 1, 3)]


def test_quantities(seed: Extraction) -> None:
    by_text = {q.text: q for q in seed.quantities}
    assert by_text["100,000"].value == 100000
    assert by_text["175,000"].value == 175000
    assert by_text["53"].value == 53
    assert by_text["about 800"].value == 800
    assert by_text["about 800"].unit == "soldiers"
    assert by_text["10,000"].unit == "soldiers"
    for q in seed.quantities:
        assert seed_text_slice(q) == q.text


def seed_text_slice(span) -> str:
    return SEED.read_text(encoding="utf-8")[span.start:span.end]


@pytest.mark.parametrize(
    ("surface", "value"),
    [("$5 million", 5e6), ("3.5bn", 3.5e9), ("two", 2), ("twenty-five", 25), ("three hundred", 300),
     ("about 1,200", 1200), ("12%", 12), ("a million", 1e6), ("several", None)],
)
def test_parse_value(surface: str, value: float | None) -> None:
    assert parse_value(surface)[0] == value


def test_money_and_percent_units() -> None:
    out = analyse("The company raised $5 million last year, and its shares rose 12% on Monday, the report said.",
                  REFERENCE)
    units = {q.text: (q.value, q.unit) for q in out.quantities}
    assert units["$5 million"] == (5e6, "USD")
    assert units["12%"] == (12, "%")


def test_quotes_with_speakers(seed: Extraction) -> None:
    by_start = {" ".join(q.text.split()[:4]): q.speaker for q in seed.quotes}
    assert by_start["These items are all"] == "Sergei Ryabkov"
    assert by_start["There was no established"] == "Michael Kaufman"
    assert by_start["We cannot do without"] == "Sergei Ryabkov"
    assert by_start["We will adhere to"] == "an NSC spokesperson"
    assert "spokesman" in (by_start["When we sit down"] or "")
    assert "spokesman" in (by_start["There will be areas"] or "")
    assert len(seed.quotes) == 6


def test_quote_offsets(seed: Extraction, seed_text: str) -> None:
    for quote in seed.quotes:
        assert seed_text[quote.start:quote.end] == quote.text
        assert seed_text[quote.start - 1] == "“"


def test_keywords_and_summary(seed: Extraction) -> None:
    assert 5 <= len(seed.keywords) <= 10
    assert all(k == k.lower() for k in seed.keywords)
    assert len(set(seed.keywords)) == len(seed.keywords)
    assert "ukraine" in seed.keywords
    assert 0 < len(seed.summary) <= 400
    assert seed.summary.startswith("There has been no indication")  # the lead, not the headline


def test_extraction_serialises(seed: Extraction) -> None:
    assert Extraction.model_validate_json(seed.model_dump_json()) == seed


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Le gouvernement français a annoncé mardi une série de mesures pour soutenir les agriculteurs touchés par "
         "la sécheresse, selon un communiqué publié par le ministère de l'Agriculture.", "fr"),
        ("Die Bundesregierung hat am Dienstag neue Maßnahmen zur Unterstützung der Landwirte angekündigt, die von "
         "der anhaltenden Dürre in weiten Teilen des Landes betroffen sind.", "de"),
    ],
)
def test_other_languages_get_language_keywords_and_no_entities(text: str, language: str) -> None:
    out = analyse(text, REFERENCE)
    assert out.language == language
    assert out.entities == ()
    assert out.keywords
    assert out.summary


@pytest.mark.parametrize("text", ["", "   \n\t ", "!!!", "12 34", "a", "\x00\x01\ud800 oops", "“”" * 50])
def test_odd_input(text: str) -> None:
    out = analyse(text, REFERENCE)
    assert out.language == "und"
    assert out.entities == ()


def test_odd_english_input_does_not_raise() -> None:
    noise = "Mr. “ said ’s the the The . , 5 million $ %% — said Smith. " * 40 + "\ud800" + "“unclosed quote " * 20
    out = analyse(noise, REFERENCE, title="")
    assert out.language in ("en", "und")
    Extraction.model_validate_json(out.model_dump_json())


def test_long_text_is_capped(seed_text: str) -> None:
    text = seed_text * 25  # ~125k characters, past the spaCy cap
    out = analyse(text, REFERENCE)
    assert out.entities and max(e.end for e in out.entities) <= 100_000
    for entity in out.entities[-5:]:
        assert text[entity.start:entity.end] == entity.text


def test_deterministic(seed_text: str, seed: Extraction) -> None:
    assert analyse(seed_text, REFERENCE, TITLE) == seed


def test_extract_carries_fields_forward(seed_text: str) -> None:
    timing = StageTiming(stage="cleaner", seconds=0.5, finished_at=REFERENCE)
    article = CleanedArticle(article_id="seed-000", ingested_at=REFERENCE, url="https://example.com/a",
                             source="wire", metadata={"k": "v"}, timings=(timing,), title=TITLE,
                             text=seed_text, removed={"newsletter": 2})
    out = extract(article)
    assert isinstance(out, ExtractedArticle)
    for field in ("article_id", "ingested_at", "url", "source", "metadata", "timings", "title", "text", "removed"):
        assert getattr(out, field) == getattr(article, field)
    assert "Sergei Ryabkov" in out.extraction.people
    assert ExtractedArticle.model_validate_json(out.model_dump_json()) == out


def test_extracted_article_survives_to_bytes(seed_text: str) -> None:
    article = CleanedArticle(article_id="seed-000", ingested_at=REFERENCE, text=seed_text)
    out = extract(article)
    assert ExtractedArticle.from_bytes(out.to_bytes()) == out


def test_batch_round_trip(seed_text: str, seed: Extraction) -> None:
    lines = [
        json.dumps({"id": "seed", "text": seed_text, "reference": "2021-12-28T09:30:00Z", "title": TITLE}),
        "not json",
        json.dumps({"id": 7, "text": None}),
        "",
        json.dumps({"id": "short", "text": "Angela Merkel met Emmanuel Macron in Paris on Friday, officials said."}),
        json.dumps({"id": "bad-ref", "text": "x", "reference": "yesterday"}),
    ]
    out = io.StringIO()
    written = extract_jsonl(lines, out, now=REFERENCE)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == len(rows) == 5
    assert [r["id"] for r in rows] == ["seed", None, 7, "short", "bad-ref"]
    assert "error" in rows[1] and "error" in rows[2] and "error" in rows[4]
    first = rows[0]
    assert Extraction.model_validate({k: v for k, v in first.items() if k != "id"}) == seed
    assert first["entities"][0].keys() == {"text", "label", "start", "end"}
    assert [e["start"] for e in first["entities"]] == sorted(e["start"] for e in first["entities"])
    assert {"Angela Merkel", "Emmanuel Macron"} <= set(rows[3]["people"])
    assert rows[3]["dates"][0]["date"] == "2021-12-24"  # "met ... on Friday", ingested on a Tuesday


# --- extract_batch: the stage runner's window step ---------------------------------------------------------


def _articles(seed_text: str) -> list[CleanedArticle]:
    texts = [seed_text, "Angela Merkel met Emmanuel Macron in Paris on Friday, officials said.", "",
             "Le gouvernement français a annoncé mardi une série de mesures pour soutenir les agriculteurs.",
             "POISON Sergei Ryabkov told reporters in Geneva on Tuesday: “We expect 100 delegates.”"]
    return [CleanedArticle(article_id=f"a{i}", ingested_at=REFERENCE, text=text, title=TITLE if i == 0 else None)
            for i, text in enumerate(texts)]


def test_extract_batch_equals_extract(seed_text: str) -> None:
    articles = _articles(seed_text)
    assert extract_batch(articles) == [extract(a) for a in articles]
    assert extract_batch([]) == []


def test_extract_batch_isolates_a_failing_article(seed_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    articles = _articles(seed_text)
    expected = [extract(a) for a in articles]
    real = entities.mentions

    def mentions(doc, text):
        if text.startswith("POISON"):
            raise RuntimeError("poisoned")
        return real(doc, text)

    monkeypatch.setattr(entities, "mentions", mentions)
    results = extract_batch(articles)
    assert isinstance(results[-1], RuntimeError)
    assert results[:-1] == expected[:-1]
    with pytest.raises(RuntimeError):
        extract(articles[-1])


def test_extract_batch_isolates_a_text_spacy_fails_on(seed_text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    articles = _articles(seed_text)
    expected = [extract(a) for a in articles]
    real = nlp.load()

    class Failing:  # the batched call fails; alone, only the poisoned text does
        def pipe(self, texts, **kwargs):
            raise RuntimeError("batch failed")

        def __call__(self, text):
            if text.startswith("POISON"):
                raise RuntimeError("poisoned")
            return real(text)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(nlp, "load", Failing)
    results = extract_batch(articles)
    assert isinstance(results[-1], RuntimeError) and str(results[-1]) == "poisoned"
    assert results[:-1] == expected[:-1]


# --- dates anchored on the publication date (issue 11, point 2) --------------------------------------------

INGESTED = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc)  # years after the story


def _seed_article(seed_text: str, published_at: PageDate | None) -> CleanedArticle:
    return CleanedArticle(article_id="seed-000", ingested_at=INGESTED, title=TITLE, text=seed_text,
                          published_at=published_at)


def test_seed_dates_resolve_against_published_at(seed_text: str) -> None:
    published = PageDate(value="2021-12-28", provenance="ingest:metadata")
    out = extract(_seed_article(seed_text, published)).extraction
    resolved = {d.text: d.date for d in out.dates}
    assert resolved["January 12"] == dt.date(2022, 1, 12)
    assert resolved["January 13"] == dt.date(2022, 1, 13)
    assert resolved["December 25"] == dt.date(2021, 12, 25)
    assert resolved["Tuesday"] == dt.date(2021, 12, 28)
    assert {d.anchor for d in out.dates} == {"published_at"}


def test_without_published_at_dates_resolve_against_ingested_at(seed_text: str) -> None:
    out = extract(_seed_article(seed_text, None)).extraction
    resolved = {d.text: d.date for d in out.dates}
    assert resolved["January 12"] == dt.date(2027, 1, 12)  # the closest January 12 to 2026-12-02
    assert {d.anchor for d in out.dates} == {"ingested_at"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-12-28T23:30:00-05:00", dt.date(2021, 12, 28)),  # the 29th in UTC: the publisher's day counts
        ("2021-12-28T02:00:00+09:00", dt.date(2021, 12, 28)),  # the 27th in UTC
        ("2021-12-28T10:00:00Z", dt.date(2021, 12, 28)),
        ("2021-12-28", dt.date(2021, 12, 28)),
    ],
)
def test_the_anchor_is_the_publishers_day(value: str, expected: dt.date) -> None:
    anchor = dates.Anchor.of(PageDate(value=value, provenance="jsonld:datePublished"), INGESTED)
    assert anchor.kind == "published_at" and anchor.moment.date() == expected
    out = analyse("Officials met in Geneva on Monday.", anchor)
    assert [(d.date, d.anchor) for d in out.dates] == [(dt.date(2021, 12, 27), "published_at")]


@pytest.mark.parametrize("value", ["2031-01-01", "1200-05-05", "0001-01-01", "9999-12-31T23:59:59+14:00",
                                   "2021-02-30"])
def test_an_unbelievable_published_at_falls_back_to_ingested_at(value: str) -> None:
    anchor = dates.Anchor.of(PageDate(value=value, provenance="url"), INGESTED)
    assert anchor == dates.Anchor(INGESTED, "ingested_at")

def test_dates_at_the_ends_of_the_calendar_do_not_raise() -> None:
    assert dates.resolve("Sunday", dt.datetime(1, 1, 1), "past") is None  # a week before 0001-01-01
    assert dates.resolve("Monday", dt.datetime(9999, 12, 31), "future") is None
    for moment in (dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)):
        for phrase in ("January 12", "two weeks ago", "next year", "Tuesday night"):
            dates.resolve(phrase, moment, "past")


THURSDAY = dates.Anchor(dt.datetime(2021, 12, 30, 12, 0, tzinfo=dt.timezone.utc), "published_at")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("A spokesman said on Tuesday that the company will spend $5 million on new trucks.", dt.date(2021, 12, 28)),
        ("The company said it will spend the money on Tuesday.", dt.date(2022, 1, 4)),
        ("Officials said the ministers would meet on Tuesday.", dt.date(2022, 1, 4)),
        ("Russia is going to hold talks on Tuesday, the ministry said.", dt.date(2022, 1, 4)),
        ("The two delegations are meeting on Tuesday.", dt.date(2022, 1, 4)),
        ("The meeting on Saturday was cancelled, officials said.", dt.date(2021, 12, 25)),
        ("The ministers have met on Saturday, officials will say.", dt.date(2021, 12, 25)),
        ("The ministers meet on Tuesday.", dt.date(2021, 12, 28)),  # no tense: the anchor's week
        # participles and infinitives take the tense of the finite verb above them...
        ("The club posted a picture of its new coach holding up a shirt on Saturday.", dt.date(2021, 12, 25)),
        ("Richardson decided to weigh in on the fight on Saturday.", dt.date(2021, 12, 25)),
        # ...except an infinitive under a verb of plans
        ("The utility was set to begin shutting off power Wednesday to 375,000 people.", dt.date(2022, 1, 5)),
        ("The company is expected to announce the terms on Monday.", dt.date(2022, 1, 3)),
    ],
)
def test_a_weekday_follows_the_tense_of_its_own_clause(sentence: str, expected: dt.date) -> None:
    out = analyse(sentence, THURSDAY)
    weekdays = [d for d in out.dates if d.text.endswith("day")]
    assert [(d.date, d.anchor) for d in weekdays] == [(expected, "published_at")]


def test_a_weekday_whose_sentence_has_no_verb_above_it_resolves() -> None:
    """A sports listing ("Thunder: Host the Lakers on Friday."): the chain of heads ends at a noun root; it
    looped forever once (spaCy makes a new Token object at every access: ``head is token`` never held)."""
    results: list[Extraction] = []
    worker = threading.Thread(target=lambda: results.append(analyse(
        "Thunder: Host the Lakers on Friday.\n\nLakers: Visit the Thunder on Friday.\n", THURSDAY)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert results, "analyse did not return within 60 s"
    assert [d.date for d in results[0].dates] == [dt.date(2021, 12, 31)] * 2


def test_a_weekday_without_a_parse_takes_the_sentence_tense() -> None:
    doc = nlp.load()("A spokesman said on Tuesday that the company will spend $5 million.")
    text = doc.text
    assert [d.date for d in dates.mentions(doc, text, THURSDAY)] == [dt.date(2022, 1, 4)]  # the old rule
    assert [d.date for d in dates.mentions(doc, text, THURSDAY, nlp._parse)] == [dt.date(2021, 12, 28)]


def test_batch_resolves_dates_against_published_at(seed_text: str) -> None:
    lines = [
        json.dumps({"id": "p", "text": seed_text, "published_at": "2021-12-28", "reference": "2026-12-02T15:00:00Z"}),
        json.dumps({"id": "p-tz", "text": "Officials met in Geneva on Monday.",
                    "published_at": "2021-12-28T23:30:00-05:00"}),
        json.dumps({"id": "no-p", "text": "Officials met in Geneva on Monday."}),
        json.dumps({"id": "bad", "text": "x", "published_at": "last Tuesday"}),
    ]
    out = io.StringIO()
    extract_jsonl(lines, out, now=INGESTED)
    rows = {r["id"]: r for r in map(json.loads, out.getvalue().splitlines())}
    seed_dates = {d["text"]: d for d in rows["p"]["dates"]}
    assert seed_dates["January 12"]["date"] == "2022-01-12" and seed_dates["January 13"]["date"] == "2022-01-13"
    assert seed_dates["January 12"]["anchor"] == "published_at"
    assert [(d["date"], d["anchor"]) for d in rows["p-tz"]["dates"]] == [("2021-12-27", "published_at")]
    assert [(d["date"], d["anchor"]) for d in rows["no-p"]["dates"]] == [("2026-11-30", "ingested_at")]
    assert "published_at" in rows["bad"]["error"]


# --- language: the declared tag checked against the text ----------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "detected", "expected"),
    [
        ("en-GB", "en", "en-GB"),  # agree: the declared tag, with its region
        ("EN_us", "en", "en-US"),
        ("zh-hans-cn", "zh", "zh-Hans-CN"),
        ("nb-NO", "no", "nb-NO"),  # Norwegian Bokmål is Norwegian
        ("en", "fr", "fr"),  # a site template's default over a French text: the text wins
        ("fr", "und", "fr"),  # detection cannot tell: the declared tag
        (None, "de", "de"),
        (None, "und", None),
        ("english", "en", "en"),  # not a language tag: as if undeclared
        ("und", "und", None),
        ("", "es", "es"),
    ],
)
def test_checked_language(declared: str | None, detected: str, expected: str | None) -> None:
    assert language.checked(declared, detected) == expected


def test_extract_checks_the_declared_language_against_the_text(seed_text: str) -> None:
    base = {"article_id": "a", "ingested_at": INGESTED, "text": seed_text}
    british = extract(CleanedArticle(**base, language="en-GB"))
    assert british.language == "en-GB" and british.extraction.language == "en"
    wrong = extract(CleanedArticle(**base, language="fr-FR"))
    assert wrong.language == "en" and wrong.extraction.language == "en"
    undeclared = extract(CleanedArticle(**base))
    assert undeclared.language == "en"
    french = extract(CleanedArticle(article_id="b", ingested_at=INGESTED, language="en",
                                    text="Le gouvernement français a annoncé mardi une série de mesures pour "
                                         "soutenir les agriculteurs touchés par la sécheresse de cet été."))
    assert french.language == "fr" == french.extraction.language


@pytest.mark.parametrize(
    ("phrase", "tense", "expected"),
    [
        ("Tuesday night", None, dt.date(2021, 12, 28)),  # dateparser read none of these before
        ("Tuesday night", "future", dt.date(2022, 1, 4)),
        ("late Friday", "past", dt.date(2021, 12, 24)),
        ("early on Monday", "future", dt.date(2022, 1, 3)),
        ("Saturday morning", "past", dt.date(2021, 12, 25)),
        ("last Tuesday night", None, dt.date(2021, 12, 21)),
        ("Thursday night's", "past", dt.date(2021, 12, 30)),
    ],
)
def test_a_weekday_with_a_time_of_day_is_that_weekday(phrase: str, tense: dates.Tense, expected: dt.date) -> None:
    assert dates.resolve(phrase, THURSDAY.moment, tense) == expected
