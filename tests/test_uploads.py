"""An uploaded model is checked file by file; every way it can be wrong gets a message naming the problem."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from streamlit.testing.v1 import AppTest

from rnnviz import uploads
from rnnviz.errors import ModelError
from rnnviz.models import ModelConfig, build_module, save
from rnnviz.tokenizers import WordTokenizer
from rnnviz.uploads import load_upload

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def good_files(tmp_path_factory) -> tuple[bytes, bytes]:
    tokenizer = WordTokenizer.build(["a good film", "a bad film"])
    config = ModelConfig(name="mine", description="a test model", task="classifier", cell="gru",
                         vocab_size=tokenizer.vocab_size, embedding_dim=4, hidden_size=5, labels=["neg", "pos"])
    torch.manual_seed(0)
    folder = save(tmp_path_factory.mktemp("upload") / "mine", config, tokenizer, build_module(config))
    return (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()


def edited_config(config: bytes, **changes) -> bytes:
    payload = json.loads(config)
    payload["model"].update(changes)
    return json.dumps(payload).encode()


def edited_weights(weights: bytes, edit) -> bytes:
    tensors = dict(load_safetensors(weights))
    edit(tensors)
    return save_safetensors(tensors)


def test_a_valid_upload_loads_and_runs(good_files):
    loaded = load_upload(*good_files)
    assert loaded.config.name == "mine" and loaded.config.cell == "gru"
    assert loaded.module(torch.tensor([[2, 3]])).shape == (1, 2)


def pickled_file() -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2)}, buffer)
    return buffer.getvalue()


CASES = {
    "weights file is not safetensors": (lambda c, w: (c, b"just some text, not tensors"), "corrupt"),
    "weights file is a pickle": (lambda c, w: (c, pickled_file()), "pickled"),
    "config file is the weights": (lambda c, w: (w, w), "not text"),
    "truncated safetensors": (lambda c, w: (c, w[: len(w) // 2]), "truncated"),
    "header shorter than 8 bytes": (lambda c, w: (c, w[:5]), "truncated"),
    "header is not JSON": (lambda c, w: (c, w[:8] + b"\xff" * (len(w) - 8)), "header is not JSON"),
    "invalid JSON": (lambda c, w: (c[:-20], w), "not valid JSON"),
    "not an rnnviz config": (lambda c, w: (b'{"hello": 1}', w), "'model' and 'tokenizer'"),
    "unknown cell type": (lambda c, w: (edited_config(c, cell="transformer"), w), "cell must be one of"),
    "vocabulary too large": (lambda c, w: (edited_config(c, vocab_size=5_000_000), w), "vocabulary"),
    "shape mismatch with the config": (lambda c, w: (edited_config(c, hidden_size=6), w), "shape"),
    "missing tensor": (lambda c, w: (c, edited_weights(w, lambda t: t.pop("head.bias"))), "missing tensors"),
    "extra tensor": (lambda c, w: (c, edited_weights(w, lambda t: t.update(extra=torch.zeros(1)))), "unexpected tensors"),
    "NaN weights": (lambda c, w: (c, edited_weights(w, lambda t: t["head.weight"].fill_(float("nan")))), "NaN"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_upload_is_refused_with_a_message_naming_the_problem(good_files, case):
    make, expected = CASES[case]
    config, weights = make(*good_files)
    with pytest.raises(ModelError, match=expected) as error:
        load_upload(config, weights)
    assert "rnnviz-upload-" not in str(error.value)  # no private temporary paths in the message


def test_oversized_weights_are_refused_before_parsing(good_files, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_WEIGHTS_BYTES", 100)
    with pytest.raises(ModelError, match="limit"):
        load_upload(*good_files)


def test_one_sessions_upload_is_invisible_to_another(good_files):
    first, second = AppTest.from_file(APP, default_timeout=60).run(), AppTest.from_file(APP, default_timeout=60).run()
    first.session_state["uploads"] = {"upload: mine": load_upload(*good_files)}  # what "Load my model" stores
    first.run()
    assert "upload: mine" in first.selectbox(key="model").options
    first.selectbox(key="model").set_value("upload: mine").run()
    assert not first.exception
    assert first.get("plotly_chart")  # the uploaded GRU is shown
    second.run()
    assert "upload: mine" not in second.selectbox(key="model").options
    assert second.session_state["model"] != "upload: mine"
