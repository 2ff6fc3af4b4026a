"""The view × model × direction table, short and long text, from the real page at 1280×720.

    python bench/view_table.py OUT_DIR

Opens every view of the registry for every bundled model and direction (the cases of
tests/e2e/test_view_matrix.py, one server, one browser), saves each first screen as
OUT_DIR/<model>-<direction>-<length>-<view>.png for a person to look at, and prints a Markdown table
whose cells are `ok` or what the matrix's checks found wrong. Not a test: it lists, it does not fail.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the matrix's checks, the tests' colour module, and shots.py's server and page
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from shots import served_page  # noqa: E402

import rnnviz  # noqa: E402
from tests.e2e.test_view_matrix import (  # noqa: E402
    CASES,
    MODELS,
    TEXT_FREE_VIEWS,
    TEXTS,
    VIEW_NAMES,
    open_view,
    problems_on_page,
)


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with served_page() as (server, page):
        for model, direction, length in CASES:
            kind, _ = MODELS[model]
            text = TEXTS[kind][0 if length == "short" else 1]
            classes = list(rnnviz.load(model).config.labels or [])
            cells, started = [], time.perf_counter()
            for view in VIEW_NAMES:
                if length == "long" and view in TEXT_FREE_VIEWS:
                    cells.append("(as short)")
                    continue
                query = {"model": model, "text": text, "view": view}
                if direction != "forward":
                    query["direction"] = direction
                try:
                    found = open_view(page, server.url, query)
                    problems = problems_on_page(found, view, classes, length)
                except Exception as error:  # a page that never settles is a finding too
                    problems = [f"did not settle: {type(error).__name__}"]
                page.screenshot(path=str(folder / f"{model}-{direction}-{length}-{view}.png"))
                cells.append("ok" if not problems else "; ".join(p[:70] for p in problems))
            rows.append((f"{model} {direction} {length}", cells))
            print(
                f"{model} {direction} {length}: {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    print("| case | " + " | ".join(VIEW_NAMES) + " |")
    print("|---" * (len(VIEW_NAMES) + 1) + "|")
    for case, cells in rows:
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
