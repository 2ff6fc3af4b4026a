"""Uploads in a real browser: a hostile upload gets one message in the sidebar, never a traceback."""

from __future__ import annotations

import json
import struct

import pytest

from rnnviz.app.budget import MAX_UPLOADS_PER_SESSION

from .harness import ERROR_ALERT, EXCEPTION, REPO_ROOT, wait_for_heatmaps, wait_until_idle

pytestmark = pytest.mark.e2e

BUNDLE = REPO_ROOT / "pretrained" / "sst2-gru"
FILE_INPUTS = '[data-testid="stFileUploader"] input[type="file"]'
MODEL_PICKED_JS = """name =>
    document.querySelector('[data-testid="stSelectbox"] input[aria-label="model"]')?.value === name"""


def safetensors_file(header_text: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header_text)) + header_text + body


def renamed_config(**changes) -> bytes:
    payload = json.loads((BUNDLE / "config.json").read_bytes())
    payload["model"].update(name="mine", **changes)
    return json.dumps(payload).encode()


CRAFTED = {  # issue 17's table
    "config declaring embedding 60,000, hidden 60,000, 50 layers": (
        renamed_config(embedding_dim=60_000, hidden_size=60_000, num_layers=50),
        None,
        "parameters",
    ),
    "header entry that is a number": (
        renamed_config(),
        safetensors_file(b'{"head.bias": 5}'),
        "head.bias",
    ),
    "header that is a JSON list": (
        renamed_config(),
        safetensors_file(b"[1, 2]"),
        "JSON object of tensors",
    ),
    "data_offsets of the wrong type": (
        renamed_config(),
        safetensors_file(
            b'{"head.bias": {"dtype": "F32", "shape": [2], "data_offsets": 8}}', bytes(8)
        ),
        "data_offsets",
    ),
}


def upload(page, config: bytes, weights: bytes, tag: int) -> None:
    """Choose both files in the sidebar's (open) "Your own model" and press "Load my model".

    Each upload's files are named after `tag`, so that waiting for "Remove <name>" (the chip's button once
    its upload is done; "Cancel upload of <name>" before) waits for this upload.
    """
    inputs = page.locator(FILE_INPUTS)
    files = [
        (f"config-{tag}.json", "application/json", config),
        (f"model-{tag}.safetensors", "application/octet-stream", weights),
    ]
    for index, (name, kind, data) in enumerate(files):  # one at a time: each upload reruns the page
        inputs.nth(index).set_input_files({"name": name, "mimeType": kind, "buffer": data})
        page.locator(
            f'[data-testid="stFileChipDeleteBtn"] button[aria-label="Remove {name}"]'
        ).wait_for()
        wait_until_idle(page)
    page.get_by_role("button", name="Load my model").click()


def test_each_crafted_upload_gets_a_message_and_a_valid_one_is_shown(app_server, page, screenshot):
    page.goto(app_server.url, wait_until="domcontentloaded")
    wait_for_heatmaps(page)
    page.get_by_text("Your own model").click()
    weights = (BUNDLE / "model.safetensors").read_bytes()
    for tag, (case, (config, crafted_weights, named)) in enumerate(CRAFTED.items()):
        upload(page, config, crafted_weights or weights, tag)
        alert = page.locator(ERROR_ALERT).filter(has_text=named)
        alert.first.wait_for()
        wait_until_idle(page)
        assert alert.first.inner_text().startswith("Could not load the model: "), case
        assert page.locator(EXCEPTION).count() == 0, (
            case,
            page.locator(EXCEPTION).first.inner_text(),
        )
    screenshot("refused")

    upload(page, renamed_config(), weights, len(CRAFTED))
    page.wait_for_function(
        MODEL_PICKED_JS, arg="upload: mine", polling=100
    )  # the model picker shows the upload
    wait_for_heatmaps(page)
    wait_until_idle(page)
    screenshot("loaded")
    assert page.locator(ERROR_ALERT).count() == 0, page.locator(ERROR_ALERT).first.inner_text()
    assert page.locator(EXCEPTION).count() == 0


def named_config(name: str) -> bytes:
    payload = json.loads((BUNDLE / "config.json").read_bytes())
    payload["model"]["name"] = name
    return json.dumps(payload).encode()


def test_a_session_keeps_a_bounded_number_of_uploads_and_says_so_at_one_more(app_server, page):
    page.goto(app_server.url, wait_until="domcontentloaded")
    wait_for_heatmaps(page)
    page.get_by_text("Your own model").click()
    weights = (BUNDLE / "model.safetensors").read_bytes()
    for k in range(MAX_UPLOADS_PER_SESSION):
        upload(page, named_config(f"mine-{k}"), weights, k)
        page.wait_for_function(MODEL_PICKED_JS, arg=f"upload: mine-{k}", polling=100)
        wait_for_heatmaps(page)
        wait_until_idle(page)
    upload(page, named_config("one-more"), weights, MAX_UPLOADS_PER_SESSION)
    alert = page.locator(ERROR_ALERT).filter(has_text="Could not keep the model")
    alert.first.wait_for()
    wait_until_idle(page)
    assert f"already holds {MAX_UPLOADS_PER_SESSION}" in alert.first.inner_text()
    assert page.locator(EXCEPTION).count() == 0
    # nothing the session had is lost: the last model kept is still the one shown
    assert page.evaluate(MODEL_PICKED_JS, f"upload: mine-{MAX_UPLOADS_PER_SESSION - 1}")
