"""Drive headless Chromium through the proxy that deploy/try_local_proxy.sh started, then read
nginx's access log: every browser must have been served by one replica only (page, static files
and the websocket /_stcore/stream alike), the browsers should spread over both replicas, and every
page must show its heatmaps with no exception.

Usage: python deploy/check_proxy.py PROXY_URL ACCESS_LOG BROWSERS REPLICA_ADDRESS...
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SENTENCE_INPUT = '[data-testid="stTextInput"] input[aria-label="sentence"]'
FAILURES = '[data-testid="stException"], [data-testid="stAlertContentError"]'
HEATMAP_COLUMNS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .flatMap(p => (p.data || []).filter(t => t.type === 'heatmap').map(t => t.x.length))"""
SENTENCE = "a gripping , funny and quite unforgettable film"  # 8 tokens; the default sentence has 5


def main(proxy: str, access_log: str, browsers: int, replicas: list[str]) -> int:
    problems: list[str] = []
    cookies: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        for k in range(browsers):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{proxy}/?model=sst2-lstm", wait_until="domcontentloaded")
            page.wait_for_function(f"({HEATMAP_COLUMNS_JS})().length >= 6 && ({HEATMAP_COLUMNS_JS})().every(c => c === 5)")
            page.locator(SENTENCE_INPUT).fill(SENTENCE)
            page.locator(SENTENCE_INPUT).press("Enter")
            page.wait_for_function(f"({HEATMAP_COLUMNS_JS})().length >= 6 && ({HEATMAP_COLUMNS_JS})().every(c => c === 8)")
            columns = page.evaluate(HEATMAP_COLUMNS_JS)
            if page.locator(FAILURES).count():
                problems.append(f"browser {k}: error on the page: {page.locator(FAILURES).first.inner_text()[:200]}")
            if k == 0:
                page.screenshot(path=str(Path(access_log).with_name("through-proxy.png")), full_page=True)
            cookie = next((c["value"] for c in context.cookies() if c["name"] == "rnnviz_affinity"), None)
            if cookie is None:
                problems.append(f"browser {k}: the proxy set no rnnviz_affinity cookie")
            cookies.append(cookie)
            print(f"browser {k}: heatmap columns after typing {columns}; affinity cookie {cookie}")
            context.close()
        browser.close()

    time.sleep(2)  # nginx logs a websocket when it closes
    served: dict[str, set[str]] = defaultdict(set)
    streams: dict[str, set[str]] = defaultdict(set)
    requests: dict[str, int] = defaultdict(int)
    for line in Path(access_log).read_text().splitlines():
        affinity, upstream, _status, request = line.split(" ", 3)
        served[affinity].add(upstream)
        requests[affinity] += 1
        if "/_stcore/stream" in request:
            streams[affinity].add(upstream)
    for k, cookie in enumerate(cookies):
        if cookie is None:
            continue
        print(f"browser {k}: {requests[cookie]} requests, all served by {sorted(served[cookie])}, "
              f"websocket on {sorted(streams[cookie])}")
        if len(served[cookie]) != 1:
            problems.append(f"browser {k}: requests went to {sorted(served[cookie])}, not to one replica")
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
