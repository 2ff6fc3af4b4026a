"""An uploaded model is checked file by file; every way it can be wrong gets a message naming the problem.

A refused upload costs nothing: its declared architecture is checked against the weights' header
before any tensor is read or any module is built.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from streamlit.testing.v1 import AppTest

import rnnviz
from rnnviz.errors import ModelError
from rnnviz.models import architectures as models
from rnnviz.models import uploads
from rnnviz.models.architectures import ModelConfig, architecture_shapes, build_module, save
from rnnviz.models.tokenizers import WordTokenizer
from rnnviz.models.uploads import MAX_PARAMETERS, load_upload

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def good_files(tmp_path_factory) -> tuple[bytes, bytes]:
    tokenizer = WordTokenizer.build(["a good film", "a bad film"])
    config = ModelConfig(
        name="mine",
        description="a test model",
        task="classifier",
        cell="gru",
        vocab_size=tokenizer.vocab_size,
        embedding_dim=4,
        hidden_size=5,
        labels=["neg", "pos"],
    )
    torch.manual_seed(0)
    folder = save(
        tmp_path_factory.mktemp("upload") / "mine", config, tokenizer, build_module(config)
    )
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
    "weights file is not safetensors": (
        lambda c, w: (c, b"just some text, not tensors"),
        "corrupt",
    ),
    "weights file is a pickle": (lambda c, w: (c, pickled_file()), "pickled"),
    "config file is the weights": (lambda c, w: (w, w), "not text"),
    "truncated safetensors": (lambda c, w: (c, w[: len(w) // 2]), "truncated"),
    "header shorter than 8 bytes": (lambda c, w: (c, w[:5]), "truncated"),
    "header is not JSON": (lambda c, w: (c, w[:8] + b"\xff" * (len(w) - 8)), "header is not JSON"),
    "invalid JSON": (lambda c, w: (c[:-20], w), "not valid JSON"),
    "not an rnnviz config": (lambda c, w: (b'{"hello": 1}', w), "'model' and 'tokenizer'"),
    "unknown cell type": (
        lambda c, w: (edited_config(c, cell="transformer"), w),
        "cell must be one of",
    ),
    "vocabulary too large": (
        lambda c, w: (edited_config(c, vocab_size=5_000_000), w),
        "vocab_size must be an integer from 2 to 200,000",
    ),
    "shape mismatch with the config": (lambda c, w: (edited_config(c, hidden_size=6), w), "shape"),
    "missing tensor": (
        lambda c, w: (c, edited_weights(w, lambda t: t.pop("head.bias"))),
        "missing tensors",
    ),
    "extra tensor": (
        lambda c, w: (c, edited_weights(w, lambda t: t.update(extra=torch.zeros(1)))),
        "unexpected tensors",
    ),
    "NaN weights": (
        lambda c, w: (c, edited_weights(w, lambda t: t["head.weight"].fill_(float("nan")))),
        "NaN",
    ),
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
    first, second = (
        AppTest.from_file(APP, default_timeout=60).run(),
        AppTest.from_file(APP, default_timeout=60).run(),
    )
    first.session_state["uploads"] = {
        "upload: mine": load_upload(*good_files)
    }  # what "Load my model" stores
    first.run()
    assert "upload: mine" in first.selectbox(key="model").options
    first.selectbox(key="model").set_value("upload: mine").run()
    assert not first.exception
    assert first.get("plotly_chart")  # the uploaded GRU is shown
    second.run()
    assert "upload: mine" not in second.selectbox(key="model").options
    assert second.session_state["model"] != "upload: mine"


# --- hostile uploads (issue 17) ---------------------------------------------------------------


def safetensors_file(header: Any, body: bytes = b"", header_text: bytes | None = None) -> bytes:
    """A file in safetensors framing: 8-byte little-endian header length, header JSON, tensor bytes."""
    text = json.dumps(header).encode() if header_text is None else header_text
    return struct.pack("<Q", len(text)) + text + body


def header_and_body(weights: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", weights[:8])
    return json.loads(weights[8 : 8 + length]), weights[8 + length :]


def edited_header(weights: bytes, edit, extra_body: bytes = b"") -> bytes:
    header, body = header_and_body(weights)
    edit(header)
    return safetensors_file(header, body + extra_body)


def huge_architecture(config: bytes) -> bytes:
    return edited_config(config, embedding_dim=60_000, hidden_size=60_000, num_layers=50)


ISSUE_17 = {
    "a header entry is a number, not an object": (
        lambda c, w: (c, safetensors_file({"head.bias": 5})),
        "'head.bias' must be an object of exactly dtype",
    ),
    "the header is a JSON list": (
        lambda c, w: (c, safetensors_file([1, 2])),
        "header of model.safetensors must be a JSON object of tensors",
    ),
    "data_offsets of the wrong type": (
        lambda c, w: (
            c,
            safetensors_file(
                {"head.bias": {"dtype": "F32", "shape": [2], "data_offsets": 8}}, bytes(8)
            ),
        ),
        "data_offsets must be two integers",
    ),
    "a config declaring embedding 60,000, hidden 60,000, 50 layers with small valid weights": (
        lambda c, w: (huge_architecture(c), w),
        "declares a model of [0-9,]+ parameters; an upload can have at most",
    ),
}


@pytest.mark.parametrize("case", list(ISSUE_17))
def test_the_crafted_uploads_of_issue_17_get_a_message(good_files, case):
    make, expected = ISSUE_17[case]
    with pytest.raises(ModelError, match=expected):
        load_upload(*make(*good_files))


def test_the_parameter_count_in_the_refusal_is_the_declared_architectures(good_files):
    vocab, embedding, hidden, layers, gates = (
        json.loads(good_files[0])["model"]["vocab_size"],
        60_000,
        60_000,
        50,
        3,
    )
    # nn.GRU's documented shapes: W_ih (3H, E) then (3H, H); W_hh (3H, H); two biases of 3H per layer.
    expected = (
        vocab * embedding
        + gates * hidden * (embedding + hidden)
        + (layers - 1) * gates * hidden * 2 * hidden
        + layers * 2 * gates * hidden
        + 2 * hidden
        + 2
    )
    with pytest.raises(
        ModelError,
        match=f"declares a model of {expected:,} parameters; an upload can have at most "
        f"{MAX_PARAMETERS:,}",
    ):
        load_upload(huge_architecture(good_files[0]), good_files[1])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(
    "task, layers, bidirectional",
    [
        ("classifier", 1, False),
        ("classifier", 3, False),
        ("classifier", 2, True),
        ("language_model", 2, False),
    ],
)
def test_the_declared_weight_shapes_are_those_of_the_built_module(
    cell, task, layers, bidirectional
):
    config = ModelConfig(
        name="m",
        description="",
        task=task,
        cell=cell,
        vocab_size=11,
        embedding_dim=3,
        hidden_size=5,
        num_layers=layers,
        bidirectional=bidirectional,
        labels=["a", "b", "c"],
    )
    module = build_module(config)
    assert list(architecture_shapes(config).items()) == [
        (k, tuple(v.shape)) for k, v in module.state_dict().items()
    ]


def test_the_parameter_limit_counts_exactly_the_modules_parameters(good_files, monkeypatch):
    payload = json.loads(good_files[0])
    count = sum(
        p.numel() for p in build_module(ModelConfig.from_dict(payload["model"])).parameters()
    )
    monkeypatch.setattr(uploads, "MAX_PARAMETERS", count)
    assert load_upload(*good_files).config.name == "mine"
    monkeypatch.setattr(uploads, "MAX_PARAMETERS", count - 1)
    with pytest.raises(ModelError, match=f"declares a model of {count:,} parameters"):
        load_upload(*good_files)


@pytest.fixture
def spies(monkeypatch) -> dict[str, list]:
    """Records every module built and every tensor file read, while still doing both."""
    import safetensors.torch

    calls: dict[str, list] = {"built": [], "read": []}
    build, read = models.build_module, safetensors.torch.load
    monkeypatch.setattr(
        models, "build_module", lambda config: calls["built"].append(config) or build(config)
    )
    monkeypatch.setattr(
        safetensors.torch, "load", lambda data: calls["read"].append(len(data)) or read(data)
    )
    return calls


@pytest.mark.parametrize(
    "case", [*ISSUE_17, "shape mismatch with the config", "missing tensor", "extra tensor"]
)
def test_a_refused_architecture_reads_no_tensor_and_builds_no_module(good_files, spies, case):
    make, _ = {**CASES, **ISSUE_17}[case]
    with pytest.raises(ModelError):
        load_upload(*make(*good_files))
    assert spies == {"built": [], "read": []}


def test_a_valid_upload_is_read_and_built_once(good_files, spies):
    load_upload(*good_files)
    assert len(spies["built"]) == 1 and spies["read"] == [len(good_files[1])]


def test_non_finite_weights_are_refused_before_the_module_is_built(good_files, spies):
    make, _ = CASES["NaN weights"]
    with pytest.raises(ModelError, match="NaN"):
        load_upload(*make(*good_files))
    assert spies["built"] == []


def shifted_last_tensor(header: dict) -> None:
    last = max(
        (k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0]
    )
    header[last]["data_offsets"] = [offset + 4 for offset in header[last]["data_offsets"]]


def set_entry(name: str, key: str, value: Any):
    return lambda header: header[name].__setitem__(key, value)


HEADER_CASES = {
    "metadata that is not texts": (
        lambda h: h.__setitem__("__metadata__", {"format": 1}),
        {},
        "__metadata__ must be",
    ),
    "metadata that is a list": (
        lambda h: h.__setitem__("__metadata__", ["rnnviz"]),
        {},
        "__metadata__ must be",
    ),
    "an entry with an extra key": (
        set_entry("head.bias", "extra", 1),
        {},
        "exactly dtype, shape and data_offsets",
    ),
    "an entry without a shape": (
        lambda h: h["head.bias"].pop("shape"),
        {},
        "exactly dtype, shape and data_offsets",
    ),
    "an unknown dtype": (
        set_entry("head.bias", "dtype", "F31"),
        {},
        "dtype 'F31', which safetensors does not define",
    ),
    "a dtype that is a number": (
        set_entry("head.bias", "dtype", 32),
        {},
        "which safetensors does not define",
    ),
    "a negative dimension": (
        set_entry("head.bias", "shape", [-2]),
        {},
        "shape must be a list of at most 8 integers",
    ),
    "a shape of booleans": (
        set_entry("head.bias", "shape", [True, True]),
        {},
        "shape must be a list",
    ),
    "a shape that is text": (set_entry("head.bias", "shape", "2"), {}, "shape must be a list"),
    "a dimension beyond 64 bits": (
        set_entry("head.bias", "shape", [2**64]),
        {},
        "shape must be a list",
    ),
    "a shape of rank 9": (
        set_entry("head.bias", "shape", [1] * 9),
        {},
        "shape must be a list of at most 8",
    ),
    "data_offsets reversed": (
        lambda h: h["head.bias"]["data_offsets"].reverse(),
        {},
        "0 ≤ begin ≤ end",
    ),
    "three data_offsets": (lambda h: h["head.bias"]["data_offsets"].append(0), {}, "two integers"),
    "data_offsets of floats": (
        lambda h: h["head.bias"].__setitem__(
            "data_offsets", [float(x) for x in h["head.bias"]["data_offsets"]]
        ),
        {},
        "two integers",
    ),
    "a shape that needs more bytes than its range": (
        set_entry("head.bias", "shape", [3]),
        {},
        r"needs 12 bytes, but data_offsets span 8",
    ),
    "two tensors on the same bytes": (
        lambda h: h["rnn.bias_ih_l0"].__setitem__(
            "data_offsets", h["rnn.bias_hh_l0"]["data_offsets"]
        ),
        {},
        "overlaps the tensor before it",
    ),
    "a gap between tensors": (
        shifted_last_tensor,
        {"extra_body": bytes(4)},
        "leaves a gap before it",
    ),
    "bytes after the last tensor": (
        lambda h: None,
        {"extra_body": bytes(4)},
        "4 bytes after its last tensor",
    ),
    "tensors stored as integers": (
        set_entry("head.bias", "dtype", "I32"),
        {},
        "stored as I32; weights must be one of",
    ),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_a_malformed_safetensors_header_is_refused_with_a_message(good_files, case):
    edit, options, expected = HEADER_CASES[case]
    with pytest.raises(ModelError, match=expected):
        load_upload(good_files[0], edited_header(good_files[1], edit, **options))


RAW_HEADERS = {
    "a key written twice": (b'{"head.bias": {}, "head.bias": {}}', "names 'head.bias' twice"),
    "a header that does not start with '{'": (b' {"__metadata__": {}}', "starting with '{'"),
    "a header that is a number": (b"5", "must be a JSON object of tensors"),
    "a header nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "an integer of 5,000 digits": (b'{"a": ' + b"9" * 5_000 + b"}", "not valid JSON"),
    "one key written 30,000 times": (
        b"{" + b",".join([b'"a": 0'] * 30_000) + b"}",
        "names 'a' twice",
    ),
    "a header over the limit": (
        json.dumps({"__metadata__": {"x": "y" * 300_000}}).encode(),
        "header .* the limit is",
    ),
}


@pytest.mark.parametrize("case", list(RAW_HEADERS))
def test_a_header_that_is_not_a_plain_object_is_refused_with_a_message(good_files, case):
    header_text, expected = RAW_HEADERS[case]
    with pytest.raises(ModelError, match=expected):
        load_upload(good_files[0], safetensors_file(None, header_text=header_text))


def edited_payload(config: bytes, edit) -> bytes:
    payload = json.loads(config)
    edit(payload)
    return json.dumps(payload).encode()


def set_model(key: str, value: Any):
    return lambda payload: payload["model"].__setitem__(key, value)


def set_tokenizer(key: str, value: Any):
    return lambda payload: payload["tokenizer"].__setitem__(key, value)


CONFIG_CASES = {
    "model is not an object": (
        lambda p: p.__setitem__("model", 5),
        "'model' and 'tokenizer' objects",
    ),
    "tokenizer is missing": (lambda p: p.pop("tokenizer"), "'model' and 'tokenizer' objects"),
    "an unknown top-level entry": (
        lambda p: p.__setitem__("weights", "x"),
        r"unknown entries \['weights'\]",
    ),
    "format_version 2": (
        lambda p: p.__setitem__("format_version", 2),
        "format_version must be 1, got 2",
    ),
    "format_version true": (
        lambda p: p.__setitem__("format_version", True),
        "format_version must be 1, got True",
    ),
    "a missing field": (lambda p: p["model"].pop("hidden_size"), "model lacks hidden_size"),
    "an unknown field": (
        set_model("attention", True),
        r"model has unknown entries \['attention'\]",
    ),
    "an empty name": (set_model("name", "  "), "model.name must be a non-empty text"),
    "a name that is a number": (set_model("name", 7), "model.name must be a non-empty text"),
    "a description that is a list": (
        set_model("description", ["a"]),
        "model.description must be a text",
    ),
    "an unknown task": (
        set_model("task", "translation"),
        "model.task must be 'classifier' or 'language_model'",
    ),
    "vocab_size as text": (
        set_model("vocab_size", "9"),
        "model.vocab_size must be an integer from 2",
    ),
    "vocab_size true": (set_model("vocab_size", True), "model.vocab_size must be an integer"),
    "hidden_size 0": (
        set_model("hidden_size", 0),
        "model.hidden_size must be an integer from 1 up, got 0",
    ),
    "a negative embedding_dim": (
        set_model("embedding_dim", -3),
        "model.embedding_dim must be an integer from 1",
    ),
    "a fractional hidden_size": (
        set_model("hidden_size", 5.5),
        "model.hidden_size must be an integer",
    ),
    "65 layers": (
        set_model("num_layers", 65),
        "model.num_layers must be an integer from 1 to 64, got 65",
    ),
    "dropout as text": (set_model("dropout", "0.1"), r"model.dropout must be a number in \[0, 1\)"),
    "dropout NaN": (
        set_model("dropout", float("nan")),
        r"model.dropout must be a number in \[0, 1\), got nan",
    ),
    "dropout 1": (set_model("dropout", 1), r"model.dropout must be a number in \[0, 1\)"),
    "bidirectional as text": (
        set_model("bidirectional", "yes"),
        "model.bidirectional must be true or false",
    ),
    "labels as text": (
        set_model("labels", "neg,pos"),
        "model.labels must be a list of at most 1,000 texts",
    ),
    "labels that are numbers": (set_model("labels", [0, 1]), "model.labels must be a list"),
    "1,001 labels": (
        set_model("labels", [str(i) for i in range(1001)]),
        "model.labels must be a list of at most",
    ),
    "one label": (set_model("labels", ["only"]), "needs at least two label names"),
    "a metric that is text": (
        set_model("metrics", {"test_accuracy": "high"}),
        "model.metrics must be an object",
    ),
    "metrics as a list": (set_model("metrics", [0.9]), "model.metrics must be an object"),
    "a bidirectional language model": (
        lambda p: p["model"].update(task="language_model", bidirectional=True),
        "cannot be bidirectional",
    ),
    "an unknown tokenizer type": (
        set_tokenizer("type", "bpe"),
        "tokenizer.type must be 'char' or 'word', got 'bpe'",
    ),
    "a char tokenizer for a classifier": (
        set_tokenizer("type", "char"),
        "a classifier needs a 'word' tokenizer",
    ),
    "an unknown tokenizer entry": (
        set_tokenizer("merges", []),
        r"tokenizer has unknown entries \['merges'\]",
    ),
    "another tokenizer style": (
        set_tokenizer("style", "bert"),
        "tokenizer.style must be one of sst-ptb, basic_english",
    ),
    "a vocabulary that is an object": (
        set_tokenizer("vocab", {"a": 1}),
        "tokenizer.vocab must be a list of texts",
    ),
    "a vocabulary with numbers": (
        lambda p: p["tokenizer"]["vocab"].append(3),
        "tokenizer.vocab must be a list of texts",
    ),
    "a vocabulary without <pad> first": (
        lambda p: p["tokenizer"]["vocab"].reverse(),
        "must start with '<pad>'",
    ),
    "a vocabulary entry twice": (
        lambda p: p["tokenizer"]["vocab"].__setitem__(2, p["tokenizer"]["vocab"][3]),
        "lists an entry twice",
    ),
    "a vocabulary longer than vocab_size": (
        lambda p: p["tokenizer"]["vocab"].append("new"),
        "tokenizer has [0-9]+ entries but vocab_size is",
    ),
    "a vocabulary of 200,001 entries": (
        set_tokenizer("vocab", ["<pad>", "<unk>", *map(str, range(199_999))]),
        "the vocabulary has 200,001 entries",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_a_malformed_config_is_refused_with_a_message(good_files, case):
    edit, expected = CONFIG_CASES[case]
    with pytest.raises(ModelError, match=expected):
        load_upload(edited_payload(good_files[0], edit), good_files[1])


RAW_CONFIGS = {
    "a key written twice": (b'{"model": {}, "model": {}}', "config.json names 'model' twice"),
    "a config nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "an integer of 5,000 digits": (
        b'{"model": {"hidden_size": ' + b"9" * 5_000 + b"}}",
        "not valid JSON",
    ),
    "a config that is a list": (b"[]", "must be an object with 'model' and 'tokenizer'"),
}


@pytest.mark.parametrize("case", list(RAW_CONFIGS))
def test_a_config_that_is_not_a_plain_object_is_refused_with_a_message(good_files, case):
    config, expected = RAW_CONFIGS[case]
    with pytest.raises(ModelError, match=expected):
        load_upload(config, good_files[1])


def test_anything_unforeseen_becomes_a_model_error_naming_its_type(good_files, monkeypatch):
    def broken(*_):
        raise KeyError("boom")

    monkeypatch.setattr(uploads, "module_from_tensors", broken)
    with pytest.raises(ModelError, match=r"the upload could not be read \(KeyError: .*boom"):
        load_upload(*good_files)


@pytest.mark.parametrize("name", ["shakespeare-char-lstm", "sst2-bilstm"])
def test_a_bundled_model_uploads_with_the_same_weights(name):
    folder = models.PRETRAINED_DIR / name
    uploaded = load_upload(
        (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()
    )
    bundled = rnnviz.load(name)
    assert uploaded.config == bundled.config and uploaded.tokenizer.itos == bundled.tokenizer.itos
    mine, theirs = uploaded.module.state_dict(), bundled.module.state_dict()
    assert list(mine) == list(theirs) and all(torch.equal(mine[key], theirs[key]) for key in mine)


def test_the_page_shows_a_crafted_upload_as_a_message(good_files, monkeypatch):
    from rnnviz.app import catalogue as webapp

    class Uploaded:  # what st.file_uploader hands the callback
        def __init__(self, data: bytes):
            self.data = data

        def getvalue(self) -> bytes:
            return self.data

    for case, (make, _expected) in ISSUE_17.items():
        config, weights = make(*good_files)
        state = {"upload_config": Uploaded(config), "upload_weights": Uploaded(weights)}
        monkeypatch.setattr(webapp.st, "session_state", state)
        webapp.load_uploaded_model()
        assert state["upload_message"].startswith("Could not load the model: "), case
        assert "uploads" not in state, case


def test_a_config_at_every_limit_loads(tmp_path):
    punctuation = [
        ",",
        "[",
        "{",
        ",,",
        "a,b",
        "(",
        "--",
    ]  # brackets and commas inside texts count as values too
    words = (f"w{i}" for i in range(uploads.MAX_VOCABULARY - 2 - len(punctuation)))
    vocabulary = ["<pad>", "<unk>", *punctuation, *words]
    config = ModelConfig(
        name="n" * uploads.MAX_NAME_CHARACTERS,
        description="," * uploads.MAX_DESCRIPTION_CHARACTERS,
        task="classifier",
        cell="rnn",
        vocab_size=len(vocabulary),
        embedding_dim=1,
        hidden_size=1,
        num_layers=uploads.MAX_LAYERS,
        bidirectional=True,
        labels=[f"label {i}," for i in range(uploads.MAX_LABELS)],
    )
    folder = save(tmp_path / "at-limits", config, WordTokenizer(vocabulary), build_module(config))
    loaded = load_upload(
        (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()
    )
    assert loaded.config == config


def test_a_config_of_too_many_values_is_refused_before_it_is_parsed(good_files, monkeypatch):
    def no_parsing(*_, **__):
        raise AssertionError("parsed")

    hostile = edited_payload(good_files[0], set_tokenizer("vocab", [[]] * 300_000))
    monkeypatch.setattr(uploads.json, "loads", no_parsing)
    with pytest.raises(ModelError, match="config.json holds too many values"):
        load_upload(hostile, good_files[1])


def test_a_header_whose_length_starts_with_the_pickle_byte_still_loads(good_files):
    header, body = header_and_body(good_files[1])
    header["__metadata__"]["padding"] = ""
    length = len(json.dumps(header).encode())
    header["__metadata__"]["padding"] = "x" * ((128 - length) % 256)  # to a length of 128 + 256 k
    weights = safetensors_file(header, body)
    assert weights[0] == 0x80  # the first byte of the little-endian length, as in a pickle
    assert load_upload(good_files[0], weights).config.name == "mine"


@pytest.mark.parametrize("dtype", [["F32"], {"F32": 1}])
def test_a_dtype_that_is_a_list_or_an_object_is_refused_with_a_message(good_files, dtype):
    with pytest.raises(ModelError, match="which safetensors does not define"):
        load_upload(
            good_files[0], edited_header(good_files[1], set_entry("head.bias", "dtype", dtype))
        )


def test_a_config_with_many_problems_names_three_and_counts_the_rest(good_files):
    hostile = json.dumps(
        {"model": {"hidden_size": "5", "extra": 1}, "tokenizer": {"type": 3, "vocab": 4}}
    ).encode()
    with pytest.raises(
        ModelError,
        match=r"^config.json: model has unknown entries \['extra'\]; model lacks name, "
        r"description, task, cell, vocab_size, embedding_dim; model.hidden_size must "
        r"be an integer from 1 up, got '5' \(and 2 more problems\)$",
    ):
        load_upload(hostile, good_files[1])


def test_a_long_list_of_missing_tensors_is_shortened(good_files):
    with pytest.raises(ModelError, match=r"missing tensors \[.*\] and 3 more$"):
        load_upload(edited_config(good_files[0], num_layers=3), good_files[1])
