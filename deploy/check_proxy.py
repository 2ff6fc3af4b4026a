"""Drive headless Chromium through the proxy that deploy/try_local_proxy.sh started, then read
nginx's access log: every browser must have been served by one replica only (page, static files
and the websocket /_stcore/stream alike), the browsers should spread over both replicas, and every
page must show its heatmaps with no exception.

Then a lab job in each replica (the script starts them with RNNVIZ_LAB_JOBS=1): one browser on each
replica trains a vanilla RNN, and both train at the same time (the bound is per replica process, so
two replicas train two jobs); a second browser on the first replica waits 1st in line, and trains
to its target once the first stops.

Usage: python deploy/check_proxy.py PROXY_URL ACCESS_LOG BROWSERS REPLICA_ADDRESS...
"""

from __future__ import annotations

import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SENTENCE_INPUT = '[data-testid="stTextInput"] input[aria-label="sentence"]'
FAILURES = '[data-testid="stException"], [data-testid="stAlertContentError"]'
HEATMAP_COLUMNS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .flatMap(p => (p.data || []).filter(t => t.type === 'heatmap').map(t => t.x.length))"""
SENTENCE = "a gripping , funny and quite unforgettable film"  # 8 tokens; the default sentence has 5
PROGRESS_TEXT_JS = """() => { const bar = document.querySelector('[data-testid="stProgress"]');
    return bar ? bar.innerText : ''; }"""
SUCCESS = '[data-testid="stAlertContentSuccess"]'


def read_log(access_log: str) -> tuple[dict, dict, dict]:
    """Per affinity cookie: the replicas that served it, those that served its websocket, its request count."""
    served: dict[str, set[str]] = defaultdict(set)
    streams: dict[str, set[str]] = defaultdict(set)
    requests: dict[str, int] = defaultdict(int)
    for line in Path(access_log).read_text().splitlines():
        affinity, upstream, _status, request = line.split(" ", 3)
        served[affinity].add(upstream)
        requests[affinity] += 1
        if "/_stcore/stream" in request:
            streams[affinity].add(upstream)
    return served, streams, requests


def wait_progress(page, pattern: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = page.evaluate(PROGRESS_TEXT_JS)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(200)
    raise AssertionError(
        f"progress never showed {pattern!r}; last: {page.evaluate(PROGRESS_TEXT_JS)!r}"
    )


def open_lab(page) -> None:
    page.locator('[data-testid="stButtonGroup"] button', has_text="Lab").first.click()
    page.get_by_role("button", name="Train").wait_for()


def lab_in_each_replica(pages_by_replica: dict[str, list], problems: list[str]) -> None:
    """Both replicas train at once with a bound of 1 each; a second job on one replica waits, then trains."""
    (first_replica, first_pages), (second_replica, second_pages) = list(pages_by_replica.items())[
        :2
    ]
    a, b = first_pages[0], second_pages[0]
    for page in (a, b):
        open_lab(page)
        page.get_by_text("RNN (tanh)", exact=True).click()
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Train").click()
    for page, replica in ((a, first_replica), (b, second_replica)):
        print(f"lab on {replica}: {wait_progress(page, r'training — step')}")
    both = [a.evaluate(PROGRESS_TEXT_JS), b.evaluate(PROGRESS_TEXT_JS)]
    if not all("training — step" in text for text in both):
        problems.append(f"the two replicas did not train at the same time: {both}")
    if len(first_pages) > 1:
        waiting = first_pages[1]
        open_lab(waiting)
        waiting.get_by_role("button", name="Train").click()
        text = wait_progress(waiting, r"waiting: ")
        print(f"second lab job on {first_replica}: {text}")
        if "waiting: 1st in line" not in text:
            problems.append(f"a second job on {first_replica} should wait 1st in line: {text}")
        a.get_by_role("button", name="Stop").click()
        waiting.locator(SUCCESS).wait_for(timeout=120_000)
        print(f"after Stop on the first: {waiting.locator(SUCCESS).inner_text()}")
    b.get_by_role("button", name="Stop").click()
    wait_progress(b, r"stopped — step")
    for page in [p for pages in pages_by_replica.values() for p in pages]:
        if page.locator(FAILURES).count():
            problems.append(
                f"lab: error on the page: {page.locator(FAILURES).first.inner_text()[:200]}"
            )


def main(proxy: str, access_log: str, browsers: int, replicas: list[str]) -> int:
    problems: list[str] = []
    cookies: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        pages = []
        for k in range(browsers):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{proxy}/?model=sst2-lstm", wait_until="domcontentloaded")
            page.wait_for_function(
                f"({HEATMAP_COLUMNS_JS})().length >= 6 && ({HEATMAP_COLUMNS_JS})().every(c => c === 5)"
            )
            page.locator(SENTENCE_INPUT).fill(SENTENCE)
            page.locator(SENTENCE_INPUT).press("Enter")
            page.wait_for_function(
                f"({HEATMAP_COLUMNS_JS})().length >= 6 && ({HEATMAP_COLUMNS_JS})().every(c => c === 8)"
            )
            columns = page.evaluate(HEATMAP_COLUMNS_JS)
            if page.locator(FAILURES).count():
                problems.append(
                    f"browser {k}: error on the page: {page.locator(FAILURES).first.inner_text()[:200]}"
                )
            if k == 0:
                page.screenshot(
                    path=str(Path(access_log).with_name("through-proxy.png")), full_page=True
                )
            cookie = next(
                (c["value"] for c in context.cookies() if c["name"] == "rnnviz_affinity"), None
            )
            if cookie is None:
                problems.append(f"browser {k}: the proxy set no rnnviz_affinity cookie")
            cookies.append(cookie)
            pages.append(page)
            print(f"browser {k}: heatmap columns after typing {columns}; affinity cookie {cookie}")
        served, _, _ = read_log(access_log)  # page and static requests are logged as they complete
        pages_by_replica: dict[str, list] = defaultdict(list)
        for page, cookie in zip(pages, cookies):
            if cookie and len(served[cookie]) == 1:
                pages_by_replica[next(iter(served[cookie]))].append(page)
        if len(pages_by_replica) >= 2:
            lab_in_each_replica(
                dict(sorted(pages_by_replica.items(), key=lambda item: -len(item[1]))), problems
            )
        else:
            problems.append("no browser on one of the replicas: the lab jobs could not run in each")
        for page in pages:
            page.context.close()
        browser.close()

    time.sleep(2)  # nginx logs a websocket when it closes
    served, streams, requests = read_log(access_log)
    for k, cookie in enumerate(cookies):
        if cookie is None:
            continue
        print(
            f"browser {k}: {requests[cookie]} requests, all served by {sorted(served[cookie])}, "
            f"websocket on {sorted(streams[cookie])}"
        )
        if len(served[cookie]) != 1:
            problems.append(
                f"browser {k}: requests went to {sorted(served[cookie])}, not to one replica"
            )
        if not streams[cookie]:
            problems.append(f"browser {k}: no websocket through the proxy")
    used = {upstream for cookie in cookies if cookie for upstream in served[cookie]}
    print(f"replicas used by the {browsers} browsers: {sorted(used)} of {replicas}")
    if browsers >= 4 and used != set(replicas):
        problems.append(f"all browsers landed on {sorted(used)}: the hash does not spread them")
    for problem in problems:
        print("PROBLEM:", problem)
    print("RESULT:", "ok" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
