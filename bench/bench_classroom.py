"""A lecture hall's phones on one server: 300 phones send sentences within a minute on loopback.

Starts `streamlit run app.py` (its own data folder), opens the lecturer's Class view on a room in
headless Chromium (it redraws the room every second, as in a lecture), and a second lecturer page on
the heatmaps. Then 300 phones (threads speaking HTTP as the phone's page does) join over the first
10 s, as a hall scanning the code would, and each sends --per-phone sentences at random moments
within --duration seconds (at least the room's pace apart). Meanwhile the lecturer types a sentence
every few seconds and waits until every heatmap shows its tokens.

Reported (the lecturer's typing is timed also for 18 s before the phones, on the same pages, as a
reference on a shared machine): phone Enter → answer (the POST round trip) median / p95 / max, refusals and errors, the
lecturer's Enter → heatmaps median / p95, whether every accepted sentence is in the database and in
the lecturer's page (its count), and the server's memory before and after.

    .venv/bin/python bench/bench_classroom.py [--phones 300] [--per-phone 2] [--duration 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    SENTENCE_INPUT,
    StreamlitServer,
    expected_tokens,
    launch_chromium,
    wait_for_heatmaps,
)
from load_test import Expectation, SocketSession, cpu_seconds, load_note, rss_mib  # noqa: E402
from load_test import Tally as SessionTally  # noqa: E402

MODEL = "sst2-lstm"
WORDS = (
    "the movie was not good but the actors were really quite charming and the plot never "
    "felt dull though the ending was a bit too long for me"
).split()
LECTURER_TEXTS = [
    "the movie was not good",
    "i did not love it at all , sadly",
    "a charming film",
    "the plot was dull but the actors were wonderful to watch",
    "not bad",
    "the ending was far too long for such a thin story",
]


def quantiles(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered):.3f} s, p95 {p95:.3f} s, max {ordered[-1]:.3f} s "
        f"(n = {len(ordered)})"
    )


def post(base: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.answer_s: list[float] = []
        self.page_s: list[float] = []
        self.accepted: list[int] = []
        self.refused: list[str] = []
        self.errors: list[str] = []


def phone(base: str, code: str, index: int, args, start: float, tally: Tally) -> None:
    rng = random.Random(index)
    token = f"{rng.getrandbits(128):032x}"
    time.sleep(max(0.0, start + rng.uniform(0, 10) - time.perf_counter()))
    try:
        began = time.perf_counter()
        with urllib.request.urlopen(f"{base}/join/{code}", timeout=30) as response:
            response.read()
        loaded = time.perf_counter() - began
        status, answer = post(base, f"/join/{code}/hello", {"phone": token})
        if status != 200:
            raise RuntimeError(f"hello {status}: {answer}")
        with tally.lock:
            tally.page_s.append(loaded)
        # Moments within the minute (the room's pace, 3 s, is kept below).
        moments = sorted(rng.uniform(10, args.duration - 4) for _ in range(args.per_phone))
        earliest = 0.0  # the page waits for its answer; the pace counts from the sentence kept
        for moment in moments:
            time.sleep(max(0.0, max(start + moment, earliest) - time.perf_counter()))
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
            began = time.perf_counter()
            status, answer = post(base, f"/join/{code}/say", {"phone": token, "text": text})
            took = time.perf_counter() - began
            earliest = time.perf_counter() + 3.2
            with tally.lock:
                if status == 200:
                    tally.answer_s.append(took)
                    tally.accepted.append(answer["id"])
                else:
                    tally.refused.append(f"{status}: {answer.get('error')}")
    except Exception as error:  # noqa: BLE001 — counted and reported, the others go on
        with tally.lock:
            tally.errors.append(f"phone {index}: {type(error).__name__}: {error}"[:200])


def lecturer_typing(page, deadline: float, timings: list[float], errors: list[str]) -> None:
    """Enter → every heatmap shows the new sentence's tokens, one sentence every ~3 s."""
    index = 0
    while time.perf_counter() < deadline:
        text = LECTURER_TEXTS[index % len(LECTURER_TEXTS)]
        index += 1
        columns = len(expected_tokens(text, MODEL))
        page.fill(SENTENCE_INPUT, text)
        began = time.perf_counter()
        page.press(SENTENCE_INPUT, "Enter")
        try:
            wait_for_heatmaps(page, columns, timeout_ms=30_000)
            timings.append(time.perf_counter() - began)
        except Exception as error:  # noqa: BLE001
            errors.append(f"lecturer: {type(error).__name__}: {str(error)[:120]}")
        time.sleep(max(0.0, 3.0 - (time.perf_counter() - began)))


def lecturer_socket(url: str, deadline: float, timings: list[float], errors: list[str]) -> None:
    """The same typing as a websocket client (bench/load_test.py): Enter → the server has sent every
    heatmap of the new sentence, without a browser drawing them on this machine's cores."""
    import asyncio

    async def typing() -> None:
        session = SocketSession(url, Expectation(MODEL), SessionTally())
        await session.open()
        index = 0
        while time.perf_counter() < deadline:
            text = LECTURER_TEXTS[index % len(LECTURER_TEXTS)]
            index += 1
            began = time.perf_counter()
            try:
                await session.type(text)
                timings.append(time.perf_counter() - began)
            except Exception as error:  # noqa: BLE001
                errors.append(f"lecturer: {type(error).__name__}: {str(error)[:120]}")
            await asyncio.sleep(max(0.0, 3.0 - (time.perf_counter() - began)))
        await session.close()

    # Its own thread and event loop: Playwright's sync API holds this thread's loop.
    worker = threading.Thread(target=lambda: asyncio.run(typing()))
    worker.start()
    worker.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=300)
    parser.add_argument("--per-phone", type=int, default=2)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument(
        "--without-class-page",
        action="store_true",
        help="no lecturer's Class view open in the browser (it redraws every second on this machine's cores)",
    )
    parser.add_argument(
        "--lecturer",
        choices=("browser", "websocket"),
        default="browser",
        help="time the lecturer's Enter → heatmaps in Chromium (drawn) or as a websocket client (sent)",
    )
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="rnnviz-class-bench-")
    os.environ["RNNVIZ_DATA_HOME"] = data  # this process reads the same database afterwards
    server = StreamlitServer("app.py", env={"OMP_NUM_THREADS": "1", "RNNVIZ_DATA_HOME": data})
    server.start()
    from playwright.sync_api import sync_playwright

    try:
        server.wait_healthy()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            room_page = browser.new_page(viewport={"width": 1400, "height": 1000})
            room_page.set_default_timeout(60_000)
            room_page.goto(f"{server.url}/?view=class&model={MODEL}")
            room_page.wait_for_selector(".rnnviz-qr svg")
            room_page.wait_for_function("() => location.search.includes('room_key=')")
            lecturer_link = room_page.url
            code = lecturer_link.split("room=")[1].split("&")[0]
            if args.without_class_page:
                room_page.goto("about:blank")
            heatmaps = None
            if args.lecturer == "browser":
                heatmaps = browser.new_page(viewport={"width": 1400, "height": 1000})
                heatmaps.set_default_timeout(60_000)
                heatmaps.goto(f"{server.url}/?model={MODEL}")
                wait_for_heatmaps(heatmaps)

            def typing(deadline: float, timings: list[float], errors: list[str]) -> None:
                if args.lecturer == "browser":
                    lecturer_typing(heatmaps, deadline, timings, errors)
                else:
                    lecturer_socket(server.url, deadline, timings, errors)

            baseline_s: list[float] = []
            baseline_errors: list[str] = []
            typing(time.perf_counter() + 18, baseline_s, baseline_errors)
            memory_before = rss_mib([server.process.pid])
            cpu_before = cpu_seconds([server.process.pid])

            tally = Tally()
            start = time.perf_counter() + 1.0
            threads = [
                threading.Thread(target=phone, args=(server.url, code, i, args, start, tally))
                for i in range(args.phones)
            ]
            for thread in threads:
                thread.start()
            lecturer_s: list[float] = []
            lecturer_errors: list[str] = []
            typing(start + args.duration, lecturer_s, lecturer_errors)
            for thread in threads:
                thread.join(timeout=args.duration + 60)
            elapsed = time.perf_counter() - start
            memory_after = rss_mib([server.process.pid])
            server_cpu = cpu_seconds([server.process.pid]) - cpu_before

            from rnnviz.classroom.store import class_store

            stored = {s.id for s in class_store().sentences(code)}
            if args.without_class_page:
                room_page.goto(lecturer_link)
                room_page.wait_for_selector(".rnnviz-qr svg")
            time.sleep(2.5)  # two of the lecturer page's refreshes
            shown = room_page.evaluate(
                """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
                    .map(m => m.innerText)"""
            )
            print(
                f"# bench_classroom: {args.phones} phones × {args.per_phone} sentences within "
                f"{args.duration:.0f} s, one server on loopback, {MODEL}; {load_note()}"
            )
            print(f"phones' page load (GET /join/CODE): {quantiles(tally.page_s)}")
            print(f"phone Enter → answer: {quantiles(tally.answer_s)}")
            print(
                f"accepted {len(tally.accepted)}, refused {len(tally.refused)}, "
                f"errors {len(tally.errors)} in {elapsed:.1f} s"
            )
            for line in (tally.refused + tally.errors)[:5]:
                print(f"  {line}")
            lost_db = set(tally.accepted) - stored
            print(f"in the database: {len(stored)}; accepted but missing: {len(lost_db)}")
            print(
                f"the lecturer's Class view shows: {' | '.join(s.replace(chr(10), ' ') for s in shown)}"
            )
            print(
                f"lecturer Enter → heatmaps ({args.lecturer}) meanwhile: {quantiles(lecturer_s)}; "
                f"errors {len(lecturer_errors)} {lecturer_errors[:2]}"
            )
            print(
                f"lecturer Enter → heatmaps before the phones (same pages): {quantiles(baseline_s)}"
            )
            print(
                f"server memory: {memory_before:.0f} MiB before the phones, "
                f"{memory_after:.0f} MiB after; server CPU during the phones: {server_cpu:.1f} s "
                f"in {elapsed:.0f} s"
            )
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
