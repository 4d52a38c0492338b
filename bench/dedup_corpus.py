"""A labelled corpus of syndicated copies and hard negatives, generated from real article bodies.

What syndication does to a wire story, applied at random (seeded) to copies of one body: a different headline
and the site's own boilerplate, leading paragraphs cut, the end trimmed, a paragraph dropped or added in the
middle, typo fixes, a locally added paragraph (an editor's note, a local angle), and the same copy pushed as
HTML (through the cleaner) for one site and as text for another. Hard negatives: different stories from the
same site (the same template lines around them), different stories that share the same named entities,
follow-up stories that repeat one paragraph of the original, and very short texts.

``make(bodies, seed)`` returns documents with their true story; ``bench/dedup.py`` scores a detector on them.
Bodies come from ../shared/data (``load_bodies``), split into a development half and a held-out half by a hash
of their id, so that the parameters are chosen on one half and checked on the other.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / "results" / "dedup-bodies.json"


@dataclass(frozen=True)
class Doc:
    doc_id: str
    story: str  # the true story: documents with the same story are copies of one another
    site: str
    kind: str  # "html" or "text": how the copy is pushed
    title: str
    body: str  # what is pushed: the text, or the page
    role: str  # original, copy, same_site, same_entities, follow_up, short


def load_bodies() -> dict[str, str]:
    """Real article bodies: the extraction benchmark's true texts and the metadata pages' texts (trafilatura),
    cached in bench/results/. At least 30 words each."""
    if CACHE.exists():
        return json.loads(CACHE.read_text())
    import trafilatura

    out: dict[str, str] = {}
    truth = json.loads((DATA / "article-extraction-benchmark" / "ground-truth.json").read_text())
    for key, value in truth.items():
        out[f"aeb-{key}"] = value["articleBody"]
    meta = DATA / "metadata-dev"
    for line in (meta / "gold.jsonl").read_text().splitlines():
        row = json.loads(line)
        raw = gzip.decompress((meta / "pages" / f"{row['id']}.html.gz").read_bytes())
        text = trafilatura.extract(raw.decode("utf8", "replace"), include_comments=False, fast=True)
        if text and len(text.split()) >= 30:
            out[f"meta-{row['id']}"] = text
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps(out))
    return out


def split(bodies: dict[str, str], part: str) -> dict[str, str]:
    """The 'dev' or 'heldout' half of the bodies (by a hash of the id: stable, independent of order)."""
    want = 0 if part == "dev" else 1
    return {k: v for k, v in bodies.items() if hashlib.sha256(k.encode()).digest()[0] % 2 == want}


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n|\n", text) if p.strip()]


SITE_LINES = [
    "Subscribe to our newsletter for the latest news.", "Follow us on Twitter and Facebook.",
    "Download our app for breaking news alerts.", "Read more: the stories you missed this week.",
    "This article was published without modification from a wire agency feed.",
    "Sign up for our daily briefing. Enter a valid email.", "Share this article", "Advertisement",
    "All rights reserved.", "Related: more from our politics desk.", "Comments are closed.",
    "Thank you for subscribing to our newsletter!", "Get the best of the news in your inbox every morning.",
]
LOCAL_PARAGRAPHS = [
    "Local officials said they were watching the situation closely and would update residents on Monday.",
    "Editor's note: this story has been updated with comments from the regional council.",
    "The city council is expected to discuss the matter at its next meeting, a spokesperson told our reporter.",
    "Readers in the area can find more information on the county's website or by calling the hotline.",
]
HEADLINE_WORDS = ["Breaking", "Update", "Report", "Analysis", "Explainer", "Live", "Exclusive", "Watch"]


def site_template(rng: random.Random) -> tuple[list[str], list[str]]:
    """The lines a site puts before and after every article (the same for all its articles)."""
    lines = rng.sample(SITE_LINES, 5)
    return lines[:2], lines[2:]


def typos(text: str, rng: random.Random, rate: float = 0.01) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * rate))):
        w = words[i]
        if len(w) > 3:
            j = rng.randrange(1, len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def syndicate(paras: list[str], rng: random.Random) -> list[str]:
    """A copy of a story as another outlet runs it: some of the edits syndication makes."""
    p = list(paras)
    if len(p) >= 6 and rng.random() < 0.3:
        p = p[rng.randint(1, 2) :]  # leading paragraphs cut
    if len(p) >= 6 and rng.random() < 0.3:
        p = p[: -rng.randint(1, 2)]  # the end trimmed
    if len(p) >= 4 and rng.random() < 0.3:
        del p[rng.randrange(1, len(p))]  # a paragraph dropped
    if rng.random() < 0.3:
        p.insert(rng.randint(1, len(p)), rng.choice(LOCAL_PARAGRAPHS))  # a locally added paragraph
    if rng.random() < 0.4:
        i = rng.randrange(len(p))
        p[i] = typos(p[i], rng)  # typo fixes
    return p


def as_html(title: str, before: list[str], paras: list[str], after: list[str]) -> str:
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
    nav = "".join(f"<li><a href='/s{i}'>{esc(s)}</a></li>" for i, s in enumerate(before))
    body = "".join(f"<p>{esc(s)}</p>" for s in paras)
    foot = "".join(f"<p>{esc(s)}</p>" for s in after)
    return (
        f"<html><head><title>{esc(title)}</title></head><body><nav><ul>{nav}</ul></nav>"
        f"<article><h1>{esc(title)}</h1>{body}</article><footer>{foot}</footer></body></html>"
    )


def _capitalised(text: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b", text)))


def make(bodies: dict[str, str], seed: int = 1, copies: tuple[int, int] = (1, 6)) -> list[Doc]:
    """The corpus: for each body an original and 0-5 copies on other sites, plus hard negatives."""
    rng = random.Random(seed)
    keys = sorted(bodies)
    rng.shuffle(keys)
    # Half of the bodies are never stories themselves: they are the different stories of the hard negatives
    # (each used once), so that a negative is never, by accident, a copy of a story in the corpus.
    spare, keys = keys[: len(keys) // 2], sorted(keys[len(keys) // 2 :])
    spares = iter(spare)
    sites = [f"site{i:02d}.example" for i in range(40)]
    templates = {s: site_template(random.Random(f"{seed}-{s}")) for s in sites}
    docs: list[Doc] = []

    def emit(story: str, site: str, title: str, paras: list[str], role: str, kind: str | None = None) -> None:
        kind = kind or rng.choice(["html", "text"])
        before, after = templates[site]
        if kind == "html":
            body = as_html(title, before, paras, after)
        else:
            body = "\n\n".join([title, *before, *paras, *after])
        docs.append(Doc(f"d{len(docs):06d}", story, site, kind, title, body, role))

    for n, key in enumerate(keys):
        paras = paragraphs(bodies[key])
        if not paras:
            continue
        story = f"s-{key}"
        words = bodies[key].split()
        title = " ".join(words[: rng.randint(5, 10)])
        home = rng.choice(sites)
        emit(story, home, title, paras, "original")
        k = rng.randint(*copies) - 1
        others = rng.sample([s for s in sites if s != home], k)
        kinds = ["html", "text"] * k
        for site, kind in zip(others, kinds):  # the same copy as HTML for one site and as text for another
            headline = f"{rng.choice(HEADLINE_WORDS)}: " + " ".join(rng.sample(words[:30], min(6, len(words[:30]))))
            emit(story, site, headline, syndicate(paras, rng), "copy", kind)

        def spare_body() -> str | None:
            key = next(spares, None)  # each hard negative is its own story: a body used once
            return bodies[key] if key is not None else None

        if rng.random() < 0.3 and (other := spare_body()):  # a different story from the same site
            emit(f"n-site-{key}", home, " ".join(other.split()[:8]), paragraphs(other), "same_site")
        if rng.random() < 0.3 and (other := spare_body()):  # a different story naming the same people
            names, theirs = _capitalised(bodies[key]), _capitalised(other)
            for a, b in zip(theirs, names):
                other = other.replace(a, b)
            emit(f"n-ent-{key}", rng.choice(sites), " ".join(other.split()[:8]), paragraphs(other), "same_entities")
        if len(paras) >= 3 and rng.random() < 0.3 and (other := spare_body()):  # a follow-up repeating a paragraph
            other_paras = paragraphs(other)
            follow = other_paras[:3] + [max(paras, key=len)] + other_paras[3:]
            emit(f"n-follow-{key}", rng.choice(sites), " ".join(other.split()[:8]), follow, "follow_up")
        if rng.random() < 0.2 and (other := spare_body()):  # a very short text on the same site
            short = " ".join(other.split()[: rng.randint(8, 30)])
            emit(f"n-short-{key}", home, " ".join(short.split()[:5]), [short], "short")
    rng.shuffle(docs)
    return docs
