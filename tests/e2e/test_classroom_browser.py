"""The classroom in a real Streamlit server and Chromium: the lecturer's Class view, phones (390×844,
touch) on the join link, the room's rules, and a restart.

The server here has its own data folder and tight rules (a few phones and sentences per room), so
every limit is reached in a few requests.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import CONTENT_HEIGHT_JS, MAX_SCREENSHOT_HEIGHT, SCREENSHOT_DIR, VIEWPORT
from .harness import ERROR_ALERT, EXCEPTION, SENTENCE_INPUT, ServerFailed, StreamlitServer

pytestmark = pytest.mark.e2e

RULES = {
    "seconds_between_sentences": 2,
    "sentences_per_phone": 3,
    "phones_per_room": 4,
    "sentences_per_room": 6,
    "failed_lookups_per_minute": 5,
}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
QR = ".rnnviz-qr svg"
ROW = '[class*="st-key-class-sentence-"]'
HARMFUL = '<img src="x" onerror="window.pwned = 1"> **not** <b>good</b>'


class Served:
    """The classroom's server, restartable on the same data folder."""

    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="rnnviz-class-")
        self.server: StreamlitServer | None = None

    def start(self) -> StreamlitServer:
        self.server = StreamlitServer(
            "app.py",
            env={
                "OMP_NUM_THREADS": "1",
                "RNNVIZ_DATA_HOME": self.data,
                "RNNVIZ_CLASS_RULES": json.dumps(RULES),
            },
        ).start()
        try:
            self.server.wait_healthy()
        except ServerFailed as failure:
            self.server.stop()
            pytest.fail(str(failure), pytrace=False)
        return self.server


@pytest.fixture(scope="module")
def served(browser):
    served = Served()
    served.start()
    yield served
    served.server.stop()


def open_room(browser, url: str):
    """A lecturer's page on the Class view, once its QR code is drawn; returns (page, code, key)."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(60_000)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(QR)
    page.wait_for_function("() => location.search.includes('room_key=')")
    query = parse_qs(urlsplit(page.url).query)
    return page, query["room"][0], query["room_key"][0]


def save_page(page, name: str) -> None:
    """The whole Streamlit page (its main area scrolls, so the viewport grows to the content)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    height = min(max(page.evaluate(CONTENT_HEIGHT_JS), VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.screenshot(path=str(SCREENSHOT_DIR / name), full_page=True)
    page.set_viewport_size(VIEWPORT)


def post(base: str, code: str, what: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base}/join/{code}/{what}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def phone_send(phone, text: str) -> str:
    """Type on the phone's page, press Enter, return what it then shows (the answer or a message)."""
    answers = phone.locator(".answer").count()
    phone.fill("#sentence", text)
    phone.press("#sentence", "Enter")
    phone.wait_for_function(
        "n => document.querySelectorAll('.answer').length > n"
        " || document.getElementById('message').textContent.length > 0",
        arg=answers,
    )
    return phone.inner_text("body")


def test_the_class_view_shows_a_qr_code_that_decodes_to_the_join_link(browser, served):
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    page, code, _ = open_room(browser, f"{served.server.url}/?view=class")
    link = f"{served.server.url}/join/{code}"
    page.get_by_text(link).first.wait_for()  # the link as text, beside the code
    shot = tempfile.mktemp(suffix=".png")
    page.locator(".rnnviz-qr").screenshot(path=shot)
    (decoded,) = zxingcpp.read_barcodes(image.open(shot))
    assert decoded.text == link
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR_ALERT).count() == 0
    box = page.locator(QR).bounding_box()
    assert box["width"] >= 360  # large enough to scan from the back of a hall on a projector


def test_phones_send_sentences_see_answers_and_the_lecturer_lists_them_live(browser, served):
    lecturer, code, _ = open_room(browser, f"{served.server.url}/?view=class")
    phones = [browser.new_context(**PHONE).new_page() for _ in range(2)]
    for phone in phones:
        phone.set_default_timeout(30_000)
        phone.goto(f"{served.server.url}/join/{code}")
        phone.wait_for_selector("text=Model: sst2-lstm")
    started = time.perf_counter()
    shown = phone_send(phones[0], "the movie was not good")
    answered_in = time.perf_counter() - started
    assert "negative" in shown and "The prediction changed at" in shown, shown
    assert phones[0].locator(".step").count() == 5  # one label and probability per token
    shown = phone_send(phones[1], HARMFUL)
    # Typed markup is text on the phone: no image element, no handler run, the tags readable.
    assert phones[1].locator(".answer .said").inner_text() == HARMFUL
    assert phones[1].locator("img").count() == 0
    assert phones[1].evaluate("() => window.pwned") is None
    # The lecturer's page, never reloaded, lists both within a few refreshes.
    lecturer.get_by_text("the movie was not good", exact=True).wait_for(timeout=15_000)
    lecturer.get_by_text(HARMFUL, exact=True).wait_for(timeout=15_000)
    assert lecturer.locator("img[src='x']").count() == 0
    assert lecturer.evaluate("() => window.pwned") is None
    assert lecturer.locator(ROW).count() == 2
    lecturer.wait_for_selector(".js-plotly-plot")  # two sentences: the state space is drawn
    phones[0].screenshot(path=str(SCREENSHOT_DIR / "test_classroom-phone.png"), full_page=True)
    save_page(lecturer, "test_classroom-lecturer.png")
    print(f"phone Enter → answer: {answered_in:.2f} s")
    # One click hides a sentence; one click opens another in the heatmaps.
    row = lecturer.locator(ROW).filter(has_text=HARMFUL)
    row.get_by_role("button", name="Hide").click()
    lecturer.wait_for_function(
        f"() => !document.body.innerText.includes({json.dumps(HARMFUL)})", timeout=15_000
    )
    row = lecturer.locator(ROW).filter(has_text="the movie was not good")
    row.get_by_role("button", name="Heatmaps").click()
    lecturer.wait_for_function("() => !location.search.includes('view=class')", timeout=30_000)
    assert lecturer.input_value(SENTENCE_INPUT) == "the movie was not good"
    assert "room_key" not in lecturer.url  # the key never leaves the Class view's link


def test_the_join_link_only_sends(browser, served):
    lecturer, code, key = open_room(browser, f"{served.server.url}/?view=class")
    assert post(served.server.url, code, "hello", {"phone": "1" * 32})[0] == 200
    for path in ("sentences", "list", "close", "hide"):
        request = urllib.request.Request(f"{served.server.url}/join/{code}/{path}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code in (404, 405)
    # A typed code (any case, with its dash) leads to the phone's page.
    typed = f"{code[:4]}-{code[4:]}".lower()
    with urllib.request.urlopen(f"{served.server.url}/join?code={typed}", timeout=10) as response:
        assert response.url.endswith(f"/join/{code}")
        assert f"Room {code[:4]}-{code[4:]}" in response.read().decode()
    # The room's code without its key opens a room of one's own, never this one.
    page, other, _ = open_room(browser, f"{served.server.url}/?view=class&room={code}")
    assert other != code
    page, other, _ = open_room(
        browser, f"{served.server.url}/?view=class&room={code}&room_key={key[::-1]}"
    )
    assert other != code
    assert page.get_by_text("its key does not match").count() == 1


def test_a_restart_keeps_the_room_and_its_sentences_behind_the_same_link(browser, served):
    url = served.server.url
    lecturer, code, key = open_room(browser, f"{url}/?view=class")
    for index, text in enumerate(("kept across a restart", "and this one too")):
        assert post(url, code, "say", {"phone": f"{index + 9:032x}", "text": text})[0] == 200
    lecturer.get_by_text("and this one too", exact=True).wait_for(timeout=15_000)
    served.server.stop()
    restarted = served.start()
    page, reopened, _ = open_room(
        browser, f"{restarted.url}/?view=class&room={code}&room_key={key}"
    )
    assert reopened == code
    page.get_by_text("kept across a restart", exact=True).wait_for(timeout=15_000)
    assert page.locator(ROW).count() == 2


def test_every_limit_is_enforced_with_a_message(browser, served):
    """Last in the module: its wrong codes pause this address for a minute."""
    url = served.server.url
    lecturer, code, _ = open_room(browser, f"{url}/?view=class")
    phone = browser.new_context(**PHONE).new_page()
    phone.goto(f"{url}/join/{code}")
    phone.wait_for_selector("text=Model: sst2-lstm")
    phone_send(phone, "a fine film")
    assert "One sentence every 2 s" in phone_send(phone, "too soon")  # pace, told on the phone
    token = phone.evaluate("() => localStorage.getItem('rnnviz-phone')")
    time.sleep(2.1)
    status, answer = post(url, code, "say", {"phone": token, "text": "x " * 1500})
    assert status == 200 and "cut to its first 2000 characters" in answer["notice"]
    time.sleep(2.1)
    post(url, code, "say", {"phone": token, "text": "third"})
    time.sleep(2.1)
    status, answer = post(url, code, "say", {"phone": token, "text": "fourth"})
    assert status == 429 and "You have sent 3 sentences" in answer["error"]
    # The room: 4 phones at most, 6 sentences at most.
    others = [f"{i:032x}" for i in range(1, 5)]
    for other in others[:3]:
        assert post(url, code, "say", {"phone": other, "text": "hello"})[0] == 200
    status, answer = post(url, code, "hello", {"phone": others[3]})
    assert status == 403 and "This room is full (4 phones)" in answer["error"]
    time.sleep(2.1)
    status, answer = post(url, code, "say", {"phone": others[0], "text": "a seventh"})
    assert status == 403 and "holds 6 sentences and is full" in answer["error"]
    # No token, no sending; a closed room says so.
    assert "reload it" in post(url, code, "say", {"text": "who am I"})[1]["error"]
    lecturer.get_by_role("button", name="Close the room").click()
    lecturer.get_by_text("This room is closed").wait_for()
    assert "closed this room" in post(url, code, "hello", {"phone": token})[1]["error"]
    # Wrong codes: a few per minute per address, then a pause, even for a code that exists.
    for wrong in range(5):
        request = f"{url}/join/ABCD{wrong + 2:04d}"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=10)
        assert (
            missing.value.code == 404 and "No room has this code" in missing.value.read().decode()
        )
    status, answer = post(url, code, "hello", {"phone": token})
    assert status == 429 and "Too many wrong room codes" in answer["error"]
