"""Unit tests of the cleaner's pure logic, its batch interface, its step, and the benchmark's metric."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from tests.harness.scoring import page_counts, score, shingles
from schemas.messages import BoilerplateCategory as Cat
from schemas.messages import FetchedArticle
from services.cleaner.batch import clean_jsonl
from services.cleaner.html import clean_html
from services.cleaner.text import Cleaned, clean_text
from services.cleaner.logic import clean, clean_batch
from services.runtime.errors import PermanentError, Reason

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "seeds" / "000_81597562a20f18e4.txt"
# The six lines the issue names, kept in one place beside the seed (without their leading ", ").
SEED_BOILERPLATE = tuple(
    line.lstrip(", ") for line in (REPO / "seeds" / "000_81597562a20f18e4.boilerplate").read_text().splitlines() if line
)

STORY = [
    "The city council voted on Tuesday to expand the bus network, adding four new routes that will connect the "
    "eastern suburbs with the central railway station by the end of next year.",
    "The plan, which has been debated for more than two years, will cost about 40 million euros, according to "
    "figures presented by the transport department during the session.",
    "“This is the most important change to our public transport in a decade,” the mayor told reporters after the "
    "vote, adding that the first buses would run in the spring.",
    "Opposition members criticised the timetable, saying that the council had not secured enough drivers and that "
    "the depots in the north of the city were already at full capacity.",
    "The transport department said it would hire 120 drivers over the coming months and that a new depot would be "
    "built on the site of a former industrial estate near the river.",
    "Residents of the eastern suburbs, where many households do not own a car, have long complained that the "
    "journey to the city centre can take more than an hour at peak times.",
]


def article_page() -> str:
    paragraphs = "\n".join(f"<p>{p}</p>" for p in STORY)
    return f"""<!doctype html><html><head><title>Council expands bus network | The Daily Example</title></head>
<body>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience.
  <button>Accept all cookies</button> <a href="/privacy">Manage your consent</a></div>
<header class="masthead"><nav class="main-nav"><ul>
  <li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li>
  <li><a href="/culture">Culture</a></li><li><a href="/opinion">Opinion</a></li></ul></nav></header>
<main><article>
<h1>Council expands bus network</h1>
<div class="share-bar"><a href="https://facebook.com/sharer">Share on Facebook</a>
  <a href="https://twitter.com/intent">Share on Twitter</a> <a href="mailto:?">Email this</a></div>
{paragraphs}
<div class="newsletter-signup"><form><p>Sign up for our daily newsletter</p>
  <input type="email" placeholder="Enter your email address"><button>Subscribe now</button></form></div>
</article>
<aside class="related-articles"><h3>Related stories</h3><ul>
  <li><a href="/a">Train fares to rise in January</a></li><li><a href="/b">New cycle lanes open downtown</a></li>
  <li><a href="/c">Airport expansion plan approved</a></li></ul></aside>
</main>
<footer class="site-footer"><p>© 2024 The Daily Example. All rights reserved.</p>
  <a href="/terms">Terms of use</a> <a href="/privacy">Privacy policy</a></footer>
</body></html>"""


# ------------------------------------------------------------------------------------------- text mode
@pytest.fixture(scope="module")
def seed_result() -> tuple[str, Cleaned]:
    raw = SEED.read_text(encoding="utf-8")
    return raw, clean_text(raw)


def test_seed_keeps_every_story_paragraph(seed_result):
    raw, result = seed_result
    kept = {line.strip() for line in result.text.splitlines()}
    story = [p.strip() for p in raw.split("\n\n")[1:] if p.strip() and not any(b in p for b in SEED_BOILERPLATE)]
    assert len(story) == 19
    for paragraph in story:
        assert paragraph in kept, paragraph[:60]


@pytest.mark.parametrize("boilerplate", SEED_BOILERPLATE)
def test_seed_removes_each_boilerplate_line(seed_result, boilerplate):
    _, result = seed_result
    assert boilerplate not in result.text


def test_seed_says_what_was_removed(seed_result):
    _, result = seed_result
    assert result.title == "US, Russia set schedule for Ukraine talks in January"
    # the wire-feed line leaves the body for the metadata (agency), counted as such, not as boilerplate
    assert result.removed.get(Cat.metadata) == 1 and Cat.feed_notice not in result.removed
    assert result.meta.agency == "wire agency"
    assert result.removed.get(Cat.newsletter, 0) >= 3
    assert result.removed.get(Cat.app_promotion) == 1
    assert all(n > 0 for n in result.removed.values())


def test_text_mode_removes_menus_and_footers_around_a_story():
    text = "\n".join(["Home", "World", "Business", "Sport", "Sign in", "", *(p + "\n" for p in STORY),
                      "Share this article", "Follow us on Twitter", "Read more", "Train fares to rise in January",
                      "", "© 2024 The Daily Example. All rights reserved."])
    result = clean_text(text)
    for paragraph in STORY:
        assert paragraph in result.text
    for junk in ("Sign in", "Share this article", "Follow us on Twitter", "All rights reserved"):
        assert junk not in result.text
    assert result.removed.get(Cat.share_social, 0) >= 2
    assert result.removed.get(Cat.legal) == 1


COMMENTS = [
    "12 responses to “Council expands bus network”",
    "busrider42 says:", "March 3, 2024 at 6:34 am",
    "About time. The number 7 has been packed every morning for years and nobody seemed to care about it.",
    "Reply",
    "Margaret T. says:", "March 3, 2024 at 7:02 am",
    "I hope they add a stop near the hospital too, my mother has to walk twenty minutes from the old one.",
    "Reply",
    "dave_k says:", "March 3, 2024 at 8:15 am",
    "Higher fares next year will eat all of this up, mark my words. It is always the same story with them.",
    "Reply",
]


def test_text_mode_drops_a_comment_thread_after_the_story():
    result = clean_text("\n".join(["Council expands bus network", "", *(p + "\n" for p in STORY), *COMMENTS]))
    for paragraph in STORY:
        assert paragraph in result.text
    for comment in COMMENTS:
        assert comment not in result.text
    assert result.removed.get(Cat.comments, 0) >= len(COMMENTS) - 1  # the thread, counted as comments


def test_a_story_that_quotes_a_says_line_is_not_cut():
    quoted = [STORY[0], "The mayor says:", STORY[1], STORY[2], "Her deputy wrote:", *STORY[3:]]
    result = clean_text("\n\n".join(["Council expands bus network", *quoted]))
    for paragraph in STORY:
        assert paragraph in result.text  # two signature-like lines are not a thread


def test_short_plain_text_is_kept():
    result = clean_text("A short note pushed as text. It has two sentences and nothing else.")
    assert result.text == "A short note pushed as text. It has two sentences and nothing else."


# ------------------------------------------------------------------------------------------- HTML mode
def test_html_keeps_the_story_and_drops_the_furniture():
    result = clean_html(article_page())
    for paragraph in STORY:
        assert paragraph in result.text
    for junk in ("We use cookies", "Share on Facebook", "Sign up for our daily newsletter", "Related stories",
                 "Train fares to rise", "All rights reserved", "Culture", "Subscribe now"):
        assert junk not in result.text
    assert result.title == "Council expands bus network"
    for cat in (Cat.navigation, Cat.cookie_consent, Cat.share_social, Cat.newsletter, Cat.related_links, Cat.legal):
        assert result.removed.get(cat, 0) >= 1, cat


@pytest.mark.parametrize("junk", ["", "   \n\t ", "\x00\x01\x02\xff" * 50, "<<<>>><html", "<p>", "{not html}",
                                  "<div>" * 5000 + "deep" + "</div>" * 5000, "\ud800 lone surrogate"])
def test_odd_input_never_raises(junk):
    for fn in (clean_html, clean_text):
        result = fn(junk)
        assert isinstance(result, Cleaned)
        assert isinstance(result.text, str)


@pytest.mark.parametrize("page", [article_page(), "<p>a fragment</p><p>and another</p>", "plain text, no markup",
                                  '<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>',
                                  "<!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0//EN' '/x.dtd'>\n<html><p>\x0by</p></html>"])
def test_the_page_is_parsed_as_trafilatura_loads_it(page):
    import trafilatura
    from lxml import etree

    from services.cleaner.html import _parse

    expected = trafilatura.load_html(page)
    got = _parse(page)
    assert (got is None) == (expected is None)
    if got is not None:
        assert etree.tostring(got) == etree.tostring(expected)


def test_deterministic():
    page = article_page()
    assert clean_html(page) == clean_html(page)


# ------------------------------------------------------------------------------------- step and batch
def fetched(kind: str, body: str, title: str | None = None) -> FetchedArticle:
    return FetchedArticle(article_id="a-1", ingested_at=datetime(2024, 1, 1, tzinfo=timezone.utc), kind=kind,
                          body=body, title=title, url="https://example.com/a", source="example",
                          metadata={"k": "v"})


def test_step_carries_fields_forward():
    out = clean(fetched("html", article_page(), title="fallback"))
    assert (out.article_id, out.url, out.source, out.metadata) == ("a-1", "https://example.com/a", "example",
                                                                   {"k": "v"})
    assert out.title == "Council expands bus network"
    assert STORY[0] in out.text and out.removed


def test_step_rejects_a_page_without_text():
    with pytest.raises(PermanentError) as err:
        clean(fetched("text", "   "))
    assert err.value.reason is Reason.empty_content


def test_step_batch_gives_the_same_results_as_the_step_in_order():
    articles = [fetched("html", article_page(), title="fallback"), fetched("text", "\n\n".join(STORY)),
                fetched("text", "Menu\nHome\n\n" + "\n\n".join(reversed(STORY)), title="t")]
    assert clean_batch(articles) == [clean(a) for a in articles]
    assert clean_batch([]) == []


def test_step_batch_isolates_a_bad_item_in_its_slot():
    good = fetched("text", "\n\n".join(STORY))
    out = clean_batch([good, fetched("text", "   "), fetched("html", "<html></html>"), good])
    assert len(out) == 4 and out[0] == out[3] == clean(good)
    for bad in out[1:3]:
        assert isinstance(bad, PermanentError) and bad.reason is Reason.empty_content


def test_batch_writes_one_line_per_input_and_survives_bad_lines():
    lines = [json.dumps({"id": "h", "html": article_page()}), "not json",
             json.dumps({"id": "t", "text": "\n\n".join(STORY)}), json.dumps({"id": "x"})]
    out = io.StringIO()
    assert clean_jsonl(lines, out) == 4
    recs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("id") for r in recs] == ["h", None, "t", "x"]
    assert STORY[0] in recs[0]["text"] and recs[0]["removed"]["legal"] >= 1
    assert "error" in recs[1] and "error" in recs[3]
    assert recs[2]["text"] == "\n\n".join(STORY)


# ------------------------------------------------------------------------------------------ the metric
def test_shingles():
    assert shingles("a b c d e") == {"a b c d": 1, "b c d e": 1}
    assert shingles("one, two") == {"one two": 1}
    assert shingles("  ...  ") == {}


def test_metric_by_hand():
    truth = "a b c d e f"  # shingles abcd bcde cdef
    pred = "a b c d e x"  # shingles abcd bcde cdex: tp 2, fp 1, fn 1
    assert page_counts(truth, pred) == pytest.approx((0.5, 0.25, 0.25))
    s = score([truth, "p q r s"], [pred, ""])
    # precision over non-empty predictions only: 2/3; recall over both pages: (2/3 + 0) / 2 = 1/3
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(1 / 3)
    assert s.f1 == pytest.approx(2 * (2 / 3) * (1 / 3) / (2 / 3 + 1 / 3))
    assert s.page_f1 == pytest.approx((2 / 3 + 0) / 2)
    assert s.empty == 1
    assert score(["x y z w"], ["x y z w"]).accuracy == 1.0


# ------------------------------------------------------------------------------ features vs vocabulary
def test_tree_evaluation_walks_each_tree_as_written():
    """predict_trees against a walk of each tree, on trees with leaves at every level (a one-leaf tree too)."""
    import numpy as np

    from services.cleaner.model import predict_trees

    rng = np.random.default_rng(7)
    feature, threshold, left, right, value, roots = [], [], [], [], [], []

    def grow(depth: int) -> int:
        node = len(feature)
        feature.append(int(rng.integers(0, 5)))
        threshold.append(float(rng.normal()))
        left.append(node), right.append(node), value.append(float(rng.normal()))
        if depth > 0 and (depth == 3 or rng.random() < 0.7):
            left[node], right[node] = grow(depth - 1), grow(depth - 1)
        else:
            feature[node] = 0  # a leaf, pointing to itself
        return node

    for depth in (3, 3, 2, 0, 3, 1):
        roots.append(grow(depth))
    spec = (np.array(feature), np.array(threshold), np.stack([np.array(left), np.array(right)], 1).ravel(),
            np.array(value), np.array(roots), 3, 0.25)
    x = rng.normal(size=(40, 5))
    x[:, 0] = np.round(x[:, 0])  # ties with nothing, but repeated values

    def walk(row, node):
        while left[node] != node:
            node = right[node] if row[feature[node]] > threshold[node] else left[node]
        return value[node]

    expected = [0.25 + sum(walk(row, r) for r in roots) for row in x]
    assert np.allclose(predict_trees(spec, x), expected, rtol=0, atol=1e-12)
    assert predict_trees(spec, x[:0]).shape == (0,)


def test_vectorised_vocabulary_matches_the_line_by_line_patterns():
    """The features search each pattern in the lines that have one of its triggers, lower-cased; they must agree
    with the patterns searched line by line, and both must name a line's category the same way."""
    from services.cleaner import features as F
    from services.cleaner.vocabulary import STRONG, line_category, line_hits

    text = "\n".join(["Subscribe to our newsletter", "Share this article on Facebook", "Read more", "Advertisement",
                      "© 2024 Example Media. All rights reserved.", "12 comments", "Menu", *STORY,
                      "Enter a valid email", "The app store opened a new office downtown.", "Ad Choices",
                      "Log in", "Sign up for our e-mail newsletter"])
    lines = F.split_lines(text)
    x = F.features(lines, frozenset())
    for i, line in enumerate(lines):
        strong, weak = line_hits(line.text)
        assert bool(x[i, F.STRONG_ANY]) == strong.any(), line.text
        if strong.any():
            assert x[i, F.FEATURES.index(f"strong_{int(strong.argmax())}")] == 1.0, line.text
        assert x[i, F.FEATURES.index("weak_count")] == weak.sum(), line.text
        assert F.categories_of(x[i : i + 1], np.array([False]))[0] is line_category(line.text), line.text
    assert STRONG[int(line_hits("Ad Choices")[0].argmax())].category.value == "advertising"


# -------------------------------------------------------------------- an article trafilatura cut short
def _chunked_page(chunks: list[list[str]], comments: list[str] = ()) -> str:
    """A story split into several ``<div class="body__chunk">`` containers, as pages do around their ads."""
    body = "".join(
        '<div class="body__chunk"><div class="inner">' + "".join(f"<p>{p}</p>" for p in chunk) + "</div></div>"
        + '<div class="ad-slot">Advertisement</div>'
        for chunk in chunks
    )
    thread = "".join(f'<li class="comment"><div class="comment-body"><p>{c}</p></div></li>' for c in comments)
    return f"<html><body><article>{body}</article><ol class='comments'>{thread}</ol></body></html>"


_WORDS = ("council library residents budget mayor river bridge school teachers parents market farmers harvest "
          "weather storm roads police station hospital nurses doctors museum painting artists festival music").split()


def _sentences(tag: str, n: int) -> list[str]:
    """``n`` distinct paragraphs (each its own words, so that none reads as another one extracted)."""
    out = []
    for i in range(n):
        k = 3 * (ord(tag) - ord("a")) + i  # a different start and stride for every paragraph
        words = [_WORDS[(k * 7 + (k + 1) * j) % len(_WORDS)] for j in range(8)]
        out.append(f"In part {tag}{i}, the {words[0]} and the {words[1]} met the {words[2]} before the {words[3]} "
                   f"could reach the {words[4]}, while the {words[5]} waited for {words[6]} and {words[7]}.")
    return out


def test_completes_an_article_cut_after_its_first_chunk():
    from services.cleaner.html import _parse, complete_truncated

    first, second, third = _sentences("a", 3), _sentences("b", 3), _sentences("c", 2)
    tree = _parse(_chunked_page([first, second, third]))
    completed, added = complete_truncated(tree, "\n\n".join(first))
    assert added == 5
    assert completed.split("\n\n") == first + second + third  # in page order, after what was extracted


def test_leaves_a_complete_extraction_and_other_containers_alone():
    from services.cleaner.html import _parse, complete_truncated

    story = _sentences("a", 3) + _sentences("b", 3)
    comments = [f"Comment {i}: I have been going to that library for years and I am so glad the council listened "
                f"to us this time." for i in range(6)]
    tree = _parse(_chunked_page([story[:3], story[3:]], comments))
    text = "\n\n".join(story)
    assert complete_truncated(tree, text) == (text, 0)  # comments are in containers of another kind
    one_more = _parse(_chunked_page([story[:3], story[3:4]]))
    assert complete_truncated(one_more, "\n\n".join(story[:3])) == ("\n\n".join(story[:3]), 0)  # one paragraph: not a cut


def test_chinese_and_japanese_lines_are_counted_in_words():
    from services.cleaner import features as L

    lines = L.split_lines("ホーム\n\nこのご時世パスワードの強化は非常に重要なことであり、日に日に増えていくそのパスワードを管理するソフトは欠かせません。\n\n"
                          "市政府周二宣布，将在明年年底前开通四条新的公交线路，连接东部郊区和中央火车站。")
    x = L.features(lines, frozenset())
    words, stop = x[:, L.N_WORDS], x[:, L.FEATURES.index("stop_ratio")]
    assert words[0] <= 2  # a menu item
    assert words[1] >= 20 and words[2] >= 15  # a sentence is many words, not one \w+ run
    assert stop[1] > 0.1 and stop[2] > 0.1  # particles and function characters count as stopwords
    assert x[1, L.SENTENCE_LIKE] == 1 and x[2, L.SENTENCE_LIKE] == 1


def test_a_page_whose_only_text_is_its_title_has_no_article():
    result = clean_html("<html><head><title>Trams for Lyon</title></head><body><div><div></div></div></body></html>")
    assert result.text == ""
    assert result.title == "Trams for Lyon"
