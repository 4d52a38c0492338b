"""Where the seed articles are (``seeds/``, the same files as ../shared/seeds) and the boilerplate lines the
first seed is known to carry. Paths and constants only: no I/O at import beyond reading the small
boilerplate list, no pytest, nothing under bench/.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
SEED_ARTICLE = SEEDS / "000_81597562a20f18e4.txt"
# The six lines the issue names, kept in one place beside the seed (without their leading ", ").
SEED_BOILERPLATE = tuple(
    line.lstrip(", ") for line in (SEEDS / "000_81597562a20f18e4.boilerplate").read_text().splitlines() if line
)
# A three-paragraph port-strike story (HTML paragraphs) for the cleaner's metadata tests.
PORT_STRIKE_STORY = (
    "<p>Container handling at the port came to a standstill on Thursday after about 2,000 dock workers began a "
    "48-hour strike over pay and automation, the union said in a statement to reporters.</p>"
    "<p>The union is demanding a seven percent wage increase and guarantees that no jobs will be lost as terminal "
    "operators expand the use of automated cranes and vehicles across the harbour.</p>"
    "<p>Operators said the talks would resume next week and that ships were being diverted to other ports.</p>"
)
