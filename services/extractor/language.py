"""The article's language (BCP 47): the page's declared tag, checked against the language detected in the text.

``checked(declared, detected)`` gives the top-level ``language`` of the ExtractedArticle (and so of the event);
``extraction.language`` stays what detection said (ISO 639-1, or "und"). The rule:
- the declared tag (``<html lang>``, ``og:locale``, ... read by the cleaner) is kept, in canonical case
  ("EN_us" -> "en-US"), when its primary subtag is the detected language ("en-GB" and "en"), or when detection
  could not tell ("und": a text too short or mixed);
- when they disagree, the detected code wins ("en" declared by a site template over a French text -> "fr"): a
  page's markup is often a site-wide default, the text is what the article is written in;
- a declared value that is no language tag ("english", "", "und", "mul") counts as not declared: the detected code,
  or None when detection could not tell either.
Old and macro-language codes count as the same language: "iw"/"he", "in"/"id", "ji"/"yi", "jw"/"jv", "nb"/"nn"/"no",
"tl"/"fil", and the ISO 639-2 codes of the languages langdetect knows best ("eng", "fra"/"fre", "deu"/"ger", ...).
"""

from __future__ import annotations

import re

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_NOT_A_LANGUAGE = frozenset({"und", "mul", "zxx", "mis"})
_SAME = {
    "iw": "he", "in": "id", "ji": "yi", "jw": "jv", "nb": "no", "nn": "no", "fil": "tl",
    "eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it", "por": "pt",
    "nld": "nl", "dut": "nl", "rus": "ru", "zho": "zh", "chi": "zh", "jpn": "ja", "ara": "ar", "hin": "hi",
}


def checked(declared: str | None, detected: str) -> str | None:
    """The article's language: ``declared`` (canonical case) when detection agrees or cannot tell, else the
    detected code; None when neither says (see the module docstring)."""
    tag = canonical(declared)
    found = None if detected in ("", "und") else detected
    if tag is None or found is None:
        return tag or found
    return tag if _primary(tag) == _SAME.get(found, found) else found


def canonical(tag: str | None) -> str | None:
    """A BCP 47 tag in its usual case ("zh-hans-cn" -> "zh-Hans-CN"), or None when ``tag`` is none."""
    if tag is None:
        return None
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag) or tag.split("-")[0].lower() in _NOT_A_LANGUAGE:
        return None
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())  # script
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            parts.append(part.upper())  # region
        else:
            parts.append(part.lower())
    return "-".join(parts)


def _primary(tag: str) -> str:
    first = tag.split("-")[0]
    return _SAME.get(first, first)
