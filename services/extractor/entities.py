"""Named entities: spaCy's NER mentions, cleaned, and the people, organisations and places they name.

Cleaning (general rules, no gazetteer):
- a leading "the" and trailing possessives ("’s", "'s"), punctuation and lowercase words ("Interfax news") go;
  a PERSON loses leading titles ("Mr.", "President", "Deputy Foreign Minister");
- an entity with a possessive inside ("Biden’s National Security Council") is split in two: the part after keeps
  the label, the part before takes the label the same words carry elsewhere in the text (or is dropped);
- a PERSON with digits ("E-8") or a lone all-capitals PERSON ("RRP"), a mention without letters, and a lone
  capitalised word that the text also uses in lowercase ("Defense" beside "defense officials") or that is a
  generic institution noun ("Council", "Ministry") are dropped;
- one surface form gets one label: the label most of its mentions carry (ties: the first mention's).

Aggregation: people, organisations (ORG) and places (GPE + LOC), unique, in order of first mention.
- a person's surname (or any shorter tail of a name) maps to the one longer name it ends ("Ryabkov" ->
  "Sergei Ryabkov"); when two longer names end that way it stays as it is;
- an acronym and its expansion are one organisation or place ("NSC" / "National Security Council",
  "NATO" / "North Atlantic Treaty Organization"), named by their more frequent form (ties: the first).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

from schemas.messages import Entity, EntityLabel

LABELS: dict[str, EntityLabel] = {label.value: label for label in EntityLabel}

_POSSESSIVES = frozenset({"'s", "’s", "'", "’", "s'", "s’"})
_CONNECTORS = frozenset({"of", "and", "for", "the", "de", "du", "des", "la", "le", "von", "van", "der", "&", "on",
                         "in"})
_TITLES = frozenset(
    """mr mrs ms miss mx dr prof professor sir dame lord lady madam president vice prime premier minister
    chancellor secretary senator sen rep representative congressman congresswoman gov governor mayor
    ambassador envoy general gen lt col colonel maj major capt captain sgt sergeant adm admiral commander
    judge justice king queen prince princess pope rev reverend father sister brother saint st deputy
    foreign defense defence interior finance state chief executive chairman chairwoman chair ceo cfo
    spokesman spokeswoman spokesperson leader speaker head director national security adviser advisor
    former acting first""".split()
)
_GENERIC_ORGS = frozenset(  # a lone one of these ("the Council", "the Ministry") names no particular organisation
    """council committee commission ministry department agency office board bureau authority administration
    government court tribunal army navy police forces force battalion brigade regiment division corps unit group
    company firm bank fund party union alliance coalition association federation organisation organization
    institute institution university college school hospital defense defence treasury cabinet""".split()
)
_NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT", "LAW"})


@dataclass(frozen=True)
class Mention:
    """One cleaned entity mention: token span [start_token, end_token) and character span [start, end)."""

    start_token: int
    end_token: int
    start: int
    end: int
    text: str
    label: str

    def to_entity(self) -> Entity:
        return Entity(text=self.text, label=LABELS[self.label], start=self.start, end=self.end)


def mentions(doc: Doc, text: str) -> list[Mention]:
    """The cleaned entity mentions of ``doc`` (built from ``text``), in text order."""
    pieces: list[tuple[Span, str | None]] = []
    for ent in doc.ents:
        if ent.label_ not in LABELS:
            continue
        split = _split_possessive(ent)
        if split is None:
            pieces.append((ent, ent.label_))
        else:
            left, right = split
            pieces.append((left, None))  # label inferred below from other mentions of the same words
            pieces.append((right, ent.label_))

    lowercase_words = {t.text for t in doc if t.is_lower and t.is_alpha}
    trimmed: list[tuple[Span, str | None]] = []
    for span, label in pieces:
        span = _trim(span, label)
        if span is not None and _plausible(span, label, lowercase_words):
            trimmed.append((span, label))

    labels = _consistent_labels(trimmed)
    out: list[Mention] = []
    for span, label in trimmed:
        label = labels.get(span.text) if label is None else labels.get(span.text, label)
        if label is None:
            continue
        out.append(Mention(span.start, span.end, span.start_char, span.end_char,
                           text[span.start_char:span.end_char], label))
    out.sort(key=lambda m: m.start)
    return out


def _split_possessive(ent: Span) -> tuple[Span, Span] | None:
    for i in range(1, len(ent) - 1):
        if ent[i].text in _POSSESSIVES or ent[i].tag_ == "POS":
            return ent[:i], ent[i + 1:]
    return None


def _trim(span: Span, label: str | None) -> Span | None:
    tokens = list(span)
    while tokens and (tokens[0].lower_ == "the" or (tokens[0].is_punct and tokens[0].text not in "(\"'")):
        tokens.pop(0)
    if label in (None, "PERSON"):
        while len(tokens) > 1 and _is_title(tokens[0]):
            tokens.pop(0)
    while tokens and _droppable_tail(tokens[-1], label):
        tokens.pop()
    if not tokens:
        return None
    return span.doc[tokens[0].i:tokens[-1].i + 1]


def _is_title(token: Token) -> bool:
    return token.text.rstrip(".").lower() in _TITLES and token.text[:1].isupper()


def _droppable_tail(token: Token, label: str | None) -> bool:
    if token.text in _POSSESSIVES or token.tag_ == "POS":
        return True
    if token.is_punct and token.text != ")":
        return True  # abbreviations keep their period inside the token: "Corp.", "U.S."
    return (label is None or label in _NAME_LABELS) and token.is_lower and token.is_alpha


def _plausible(span: Span, label: str | None, lowercase_words: set[str]) -> bool:
    text = span.text
    if not any(c.isalpha() for c in text):
        return False
    if label == "PERSON" and (any(c.isdigit() for c in text) or (len(span) == 1 and text.isupper())):
        return False  # "E-8", "RRP": a model, an acronym, not a person
    if len(span) == 1 and label in ("ORG", "PRODUCT", "FAC", "EVENT", "WORK_OF_ART", "LAW", None):
        word = span[0]
        # "Defense" when the text also says "defense": a capitalised common word, not a name
        if word.text[:1].isupper() and not word.is_upper and (
                word.text.lower() in lowercase_words or word.text.lower() in _GENERIC_ORGS):
            return False
    return True


def _consistent_labels(spans: list[tuple[Span, str | None]]) -> dict[str, str]:
    """Each surface form's majority label (ties: its first mention's label)."""
    votes: dict[str, Counter[str]] = {}
    first: dict[str, dict[str, int]] = {}
    for order, (span, label) in enumerate(spans):
        if label is None:
            continue
        votes.setdefault(span.text, Counter())[label] += 1
        first.setdefault(span.text, {}).setdefault(label, order)
    return {
        form: max(counter, key=lambda lab: (counter[lab], -first[form][lab]))
        for form, counter in votes.items()
    }


# --- aggregation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    """The entities of one article after aggregation: each distinct person, organisation and place once, under
    its fullest name, and the name every mention maps to. A value only: it reads no text and runs no model."""

    people: tuple[str, ...]
    organisations: tuple[str, ...]
    places: tuple[str, ...]
    canonical: dict[tuple[str, str], str]  # (label, mention text) -> aggregated name

    def name_of(self, mention: Mention) -> str:
        return self.canonical.get((mention.label, mention.text), mention.text)


def aggregate(found: list[Mention]) -> Aggregate:
    canonical: dict[tuple[str, str], str] = {}
    people = _people([m for m in found if m.label == "PERSON"], canonical)
    organisations = _grouped([m for m in found if m.label == "ORG"], canonical)
    places = _grouped([m for m in found if m.label in ("GPE", "LOC")], canonical)
    return Aggregate(people, organisations, places, canonical)


def _people(found: list[Mention], canonical: dict[tuple[str, str], str]) -> tuple[str, ...]:
    names = list(dict.fromkeys(_squash(m.text) for m in found))
    words = {name: name.split() for name in names}
    target: dict[str, str] = {}
    for name in names:
        longer = {
            other for other in names
            if len(words[other]) > len(words[name]) and words[other][-len(words[name]):] == words[name]
        }
        # the longest names that end this way; ambiguous when they are not all tails of one another
        best = [o for o in longer if not any(o != p and words[p][-len(words[o]):] == words[o] for p in longer)]
        target[name] = best[0] if len(best) == 1 else name
    out: list[str] = []
    for m in found:
        name = target[_squash(m.text)]
        canonical[(m.label, m.text)] = name
        if name not in out:
            out.append(name)
    return tuple(out)


def _grouped(found: list[Mention], canonical: dict[tuple[str, str], str]) -> tuple[str, ...]:
    forms = [_squash(m.text) for m in found]
    count = Counter(forms)
    order = list(dict.fromkeys(forms))
    group = {form: form for form in order}
    acronyms = {_acronym_key(form): form for form in order if _is_acronym(form)}
    for form in order:
        initials = _initials(form)
        if initials and initials in acronyms and acronyms[initials] != form:
            group[form] = acronyms[initials]
    members: dict[str, list[str]] = {}
    for form in order:
        members.setdefault(group[form], []).append(form)
    name = {
        key: max(forms_, key=lambda f: (count[f], -order.index(f)))
        for key, forms_ in members.items()
    }
    out: list[str] = []
    for m, form in zip(found, forms, strict=True):
        display = name[group[form]]
        canonical[(m.label, m.text)] = display
        if display not in out:
            out.append(display)
    return tuple(out)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _is_acronym(form: str) -> bool:
    key = _acronym_key(form)
    return 2 <= len(key) <= 8 and key.isupper() and key.isalpha() and " " not in form


def _acronym_key(form: str) -> str:
    return form.replace(".", "")


def _initials(form: str) -> str | None:
    words = [w for w in re.split(r"[\s-]+", form) if w]
    if len(words) < 2:
        return None
    letters = [w[0] for w in words if w.lower() not in _CONNECTORS]
    if len(letters) < 2 or not all(c.isupper() for c in letters):
        return None
    return "".join(letters)
