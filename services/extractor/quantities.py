"""Numbers: spaCy's CARDINAL / QUANTITY / MONEY / PERCENT mentions, plus digit numbers NER missed, with values.

- value: digits ("100,000", "5.5"), scale words ("$5 million", "3bn", "2k") and small number words
  ("two", "twenty-five", "three hundred"); None when it does not parse (fractions, ranges keep their first number);
- unit: MONEY -> ISO currency code ("$" -> "USD", "€" -> "EUR", "£" -> "GBP", ...), PERCENT -> "%", QUANTITY ->
  the words after the number ("5 km" -> "km"), CARDINAL -> the noun the number modifies ("about 800 soldiers" ->
  "soldiers"): its head when the parse says ``nummod``, else the first common noun after it, skipping adjectives
  and proper nouns ("100,000 US officers" -> "officers").
"""

from __future__ import annotations

import re

from spacy.tokens import Doc, Span

from schemas.messages import Quantity

LABELS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})

_CURRENCY_SYMBOLS = [  # longest first
    ("US$", "USD"), ("C$", "CAD"), ("A$", "AUD"), ("NZ$", "NZD"), ("HK$", "HKD"), ("S$", "SGD"), ("R$", "BRL"),
    ("$", "USD"), ("€", "EUR"), ("£", "GBP"), ("¥", "JPY"), ("₹", "INR"), ("₽", "RUB"), ("₩", "KRW"), ("₺", "TRY"),
    ("₴", "UAH"), ("CHF", "CHF"),
]
_CURRENCY_WORDS = {
    "dollar": "USD", "dollars": "USD", "usd": "USD", "euro": "EUR", "euros": "EUR", "eur": "EUR",
    "pound": "GBP", "pounds": "GBP", "sterling": "GBP", "gbp": "GBP", "yen": "JPY", "yuan": "CNY", "renminbi": "CNY",
    "rupee": "INR", "rupees": "INR", "ruble": "RUB", "rubles": "RUB", "rouble": "RUB", "roubles": "RUB",
    "franc": "CHF", "francs": "CHF", "hryvnia": "UAH", "hryvnias": "UAH", "won": "KRW", "lira": "TRY",
}
_SCALES = {
    "hundred": 1e2, "thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "mln": 1e6, "millions": 1e6,
    "billion": 1e9, "bn": 1e9, "b": 1e9, "billions": 1e9, "trillion": 1e12, "tn": 1e12, "thousands": 1e3,
    "lakh": 1e5, "crore": 1e7, "dozen": 12,
}
_SMALL = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split())
}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i >= 2}
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:,\d{3})*(?:\.\d+)?|[-−]?\.\d+")
_WORD = re.compile(r"[^\W\d_]+", re.U)
_NOUN_TAGS = frozenset({"NN", "NNS"})
_SKIP_TAGS = frozenset({"JJ", "JJR", "JJS", "NNP", "NNPS", "HYPH", "VBN", "CD"})


def quantities(doc: Doc, text: str) -> list[Quantity]:
    out: list[Quantity] = []
    covered: set[int] = set()
    for ent in doc.ents:
        covered.update(range(ent.start, ent.end))
        if ent.label_ in LABELS:
            out.append(_quantity(ent, text))
    for token in doc:  # numbers in digits that NER left out ("around 100,000 US officers")
        if token.i in covered or not token.like_num or not any(c.isdigit() for c in token.text):
            continue
        if re.fullmatch(r"1[89]\d\d|20\d\d", token.text):  # a year NER did not call a DATE
            continue
        out.append(_quantity(doc[token.i:token.i + 1], text, label="CARDINAL"))
    out.sort(key=lambda q: q.start)
    return out


def _quantity(span: Span, text: str, label: str | None = None) -> Quantity:
    label = label or span.label_
    surface = text[span.start_char:span.end_char]
    value, rest = parse_value(surface)
    unit: str | None
    if label == "MONEY":
        unit = _currency(surface)
    elif label == "PERCENT":
        unit = "%"
    elif label == "QUANTITY":
        unit = " ".join(rest) or None
    else:
        unit = _counted_noun(span)
    return Quantity(text=surface, start=span.start_char, end=span.end_char, value=value, unit=unit)


def parse_value(surface: str) -> tuple[float | None, list[str]]:
    """The number in ``surface`` and the words after it (scale words applied): "$5 million" -> (5e6, [])."""
    match = _NUMBER.search(surface)
    if match is not None:
        digits = match.group().replace(",", "").replace("−", "-")
        try:
            value = float(digits)
        except ValueError:
            return None, []
        words = [w.lower() for w in _WORD.findall(surface[match.end():])]
        while words and words[0] in _SCALES:
            value *= _SCALES[words.pop(0)]
        return value, words
    return _words_value([w.lower() for w in _WORD.findall(surface)])


def _words_value(words: list[str]) -> tuple[float | None, list[str]]:
    total, current, seen, i = 0.0, 0.0, False, 0
    for i, word in enumerate(words):
        if word in _SMALL or word in _TENS:
            current += _SMALL.get(word, _TENS.get(word, 0))
            seen = True
        elif word in ("a", "an") and not seen and i + 1 < len(words) and words[i + 1] in _SCALES:
            current, seen = 1.0, True
        elif word == "hundred" and seen:
            current = (current or 1) * 100
        elif word in _SCALES and seen:
            total += (current or 1) * _SCALES[word]
            current = 0
        elif word == "and" and seen:
            continue
        elif seen:
            return total + current, words[i:]
    return (total + current, []) if seen else (None, [])


def _currency(surface: str) -> str | None:
    for symbol, code in _CURRENCY_SYMBOLS:
        if symbol in surface:
            return code
    for word in _WORD.findall(surface):
        if word.lower() in _CURRENCY_WORDS:
            return _CURRENCY_WORDS[word.lower()]
    return None


def _counted_noun(span: Span) -> str | None:
    number = next((t for t in reversed(span) if t.like_num), span[-1])
    head = number.head
    if number.dep_ == "nummod" and head.tag_ in _NOUN_TAGS and head.i >= span.end:
        return head.text.lower()
    doc = span.doc
    for token in doc[span.end:min(span.end + 4, len(doc))]:
        if token.tag_ in _NOUN_TAGS:
            return token.text.lower()
        if token.tag_ not in _SKIP_TAGS:
            return None
    return None
