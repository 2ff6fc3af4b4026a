"""The classroom through the proxy that deploy/try_local_proxy.sh started: one room, met by every
replica. The replicas share one SQLite file (the same RNNVIZ_DATA_HOME), so the lecturer's page, pinned
to one replica by its cookie, lists what phones sent through any replica.

A lecturer's Class view in headless Chromium; one phone page in Chromium (390×844) that sends a
sentence; then cookie-less phones over plain HTTP, so that nginx hashes each request afresh and
their requests spread over the replicas. Checks: every accepted sentence is counted on the
lecturer's page, both replicas served join requests (nginx's access log), no exception anywhere.

Usage: python deploy/check_classroom_proxy.py PROXY_URL ACCESS_LOG PHONES REPLICA_ADDRESS...
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from check_proxy import CHROMIUM_ARGS, FAILURES
from playwright.sync_api import sync_playwright

COUNT_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
    .map(m => m.innerText.replace(/\\s+/g, ' '))"""


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def main() -> int:
    proxy, access_log, phones, replicas = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        lecturer = browser.new_page(viewport={"width": 1400, "height": 1000})
        lecturer.set_default_timeout(60_000)
        lecturer.goto(f"{proxy}/?view=class")
        lecturer.wait_for_selector(".rnnviz-qr svg")
        lecturer.wait_for_function("() => location.search.includes('room_key=')")
        code = lecturer.url.split("room=")[1].split("&")[0]
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
        ).new_page()
        phone.goto(f"{proxy}/join/{code}")
        phone.wait_for_selector("text=Model:")
        phone.fill("#sentence", "the movie was not good")
        phone.press("#sentence", "Enter")
        phone.wait_for_selector(".answer")
        accepted = 1
        for index in range(phones):
            status, answer = post(
                f"{proxy}/join/{code}/say",
                {"phone": f"{index + 1:032x}", "text": f"sentence {index}"},
            )
            if status == 200:
                accepted += 1
            else:
                problems.append(f"phone {index}: {status} {answer}")
        expected = f"sentences {accepted}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and expected not in lecturer.evaluate(COUNT_JS):
            time.sleep(0.5)
        shown = lecturer.evaluate(COUNT_JS)
        print(f"== the lecturer's page (one replica) shows: {' | '.join(shown)}")
        if expected not in shown:
            problems.append(f"the lecturer's page does not show '{expected}'")
        for page in (lecturer, phone):
            if page.locator(FAILURES).count():
                problems.append(f"an exception or error on {page.url}")
        browser.close()
    joins = Counter()
    for line in Path(access_log).read_text().splitlines():
        _affinity, upstream, _status, request = line.split(" ", 3)
        if f"/join/{code}" in request:
            joins[upstream] += 1
    print(f"== join requests per replica: {dict(joins)}")
    if not all(joins[replica] > 0 for replica in replicas):
        problems.append("not every replica served join requests")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("RESULT: ok" if not problems else "RESULT: FAILED")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
