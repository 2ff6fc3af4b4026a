"""Structure-aware fuzzing of uploads: configs and safetensors headers built field by field.

Every generated upload, valid or hostile, either loads or is refused with one short ModelError;
no other exception escapes, a refused upload builds no module, and Python's peak allocation while
checking it stays within a small multiple of the upload's size.
"""

from __future__ import annotations

import copy
import json
import struct
import tracemalloc
from collections import Counter
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_safetensors

from rnnviz.errors import ModelError
from rnnviz.models import architectures as models
from rnnviz.models.architectures import ModelConfig, build_module
from rnnviz.models.tokenizers import CharTokenizer, WordTokenizer
from rnnviz.models.uploads import SAFETENSORS_DTYPE_BITS, load_upload

ARCHITECTURES = [
    dict(task="classifier", cell_kind="gru", embedding_dim=4, hidden_size=5, labels=["neg", "pos"]),
    dict(task="language_model", cell_kind="lstm", embedding_dim=3, hidden_size=4, num_layers=2),
    dict(
        task="classifier",
        cell_kind="rnn_tanh",
        embedding_dim=2,
        hidden_size=3,
        bidirectional=True,
        labels=["a", "b", "c"],
    ),
]
MODEL_KEYS = [*ModelConfig.__dataclass_fields__, "attention"]
TOKENIZER_KEYS = ["type", "vocab", "style", "lowercase", "merges"]
ENTRY_KEYS = ["dtype", "shape", "data_offsets"]


def base_upload(architecture: dict) -> tuple[dict, dict, bytes]:
    """A valid upload as (config payload, safetensors header, tensor bytes)."""
    if architecture["task"] == "classifier":
        tokenizer = WordTokenizer.build(["a good film", "a bad film", "not good"])
    else:
        tokenizer = CharTokenizer.build("to be or not to be")
    config = ModelConfig(
        name=f"fuzz {architecture['cell_kind']}",
        description="",
        vocab_size=tokenizer.vocab_size,
        **architecture,
    )
    torch.manual_seed(0)
    tensors = {k: v.contiguous() for k, v in build_module(config).state_dict().items()}
    weights = save_safetensors(tensors, metadata={"format": "rnnviz"})
    (length,) = struct.unpack("<Q", weights[:8])
    payload = {"format_version": 1, "model": config.to_dict(), "tokenizer": tokenizer.to_dict()}
    return payload, json.loads(weights[8 : 8 + length]), weights[8 + length :]


BASES = [base_upload(architecture) for architecture in ARCHITECTURES]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70),
    st.integers(-(2**70), 2**70),
    st.integers(10**4, 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "lstm",
            "gru",
            "rnn",
            "classifier",
            "language_model",
            "char",
            "word",
            "sst-ptb",
            "F32",
            "I64",
            "<pad>",
            "<unk>",
            "__metadata__",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
plausible = {  # values of the right type, often of the wrong size: mismatches and limits
    "vocab_size": st.integers(-2, 300_000),
    "embedding_dim": st.integers(0, 8) | st.integers(10**4, 10**9),
    "hidden_size": st.integers(0, 8) | st.integers(10**4, 10**9),
    "num_layers": st.integers(0, 80),
    "dropout": st.floats(-1, 2),
    "bidirectional": st.booleans(),
    "labels": st.lists(st.text(max_size=5), max_size=4),
    "metrics": st.dictionaries(
        st.text(max_size=5), st.floats() | st.integers() | st.text(max_size=3), max_size=3
    ),
    "task": st.sampled_from(["classifier", "language_model"]),
    "cell_kind": st.sampled_from(["lstm", "gru", "rnn_tanh"]),
}


@st.composite
def configs(draw, payload: dict) -> bytes:
    """A config.json from a valid one: unchanged, resized, retyped, or with its tokenizer or outer object changed."""
    payload = copy.deepcopy(payload)
    model, tokenizer = payload["model"], payload["tokenizer"]
    change = draw(st.sampled_from(["none", "resize", "resize", "retype", "tokenizer", "outer"]))
    if change == "resize":  # the right types, other sizes: mismatched shapes, limits
        for key in draw(st.sets(st.sampled_from(sorted(plausible)), min_size=1, max_size=2)):
            model[key] = draw(plausible[key])
    elif change == "retype":
        for key in draw(st.sets(st.sampled_from(MODEL_KEYS), min_size=1, max_size=3)):
            if draw(st.booleans()):
                model.pop(key, None)
            else:
                model[key] = draw(json_values)
    elif change == "tokenizer":
        vocab = tokenizer["vocab"]
        key = draw(st.sampled_from(TOKENIZER_KEYS))
        if key == "vocab" and draw(st.booleans()):
            tokenizer["vocab"] = draw(
                st.sampled_from(
                    [
                        vocab[:-1],
                        [*vocab, "new"],
                        vocab[::-1],
                        [*vocab, vocab[2]],
                        [*vocab[:2], *range(3)],
                    ]
                )
            )
        elif draw(st.booleans()):
            tokenizer.pop(key, None)
        else:
            tokenizer[key] = draw(json_values)
    elif change == "outer":
        if draw(st.booleans()):
            payload[draw(st.sampled_from(["format_version", "model", "tokenizer", "extra"]))] = (
                draw(json_values)
            )
        else:
            payload = draw(json_values)
    return json.dumps(payload, allow_nan=True).encode()


@st.composite
def safetensors_files(draw, header: dict, body: bytes) -> bytes:
    """A model.safetensors from a valid one: unchanged, or with entries, bytes, framing or metadata changed."""
    header = copy.deepcopy(header)
    names = sorted(k for k in header if k != "__metadata__")
    declared_extra, prefix = 0, b""
    change = draw(
        st.sampled_from(
            ["none", "field", "field", "entry", "bytes", "values", "framing", "metadata"]
        )
    )
    if change == "field":  # a plausible value of the right type: other dtypes, shapes, ranges
        for name in draw(st.sets(st.sampled_from(names), min_size=1, max_size=2)):
            entry, part = header[name], draw(st.sampled_from(ENTRY_KEYS))
            if part == "dtype":
                same_width = st.sampled_from(
                    ["I32", "U32"]
                )  # as many bytes as F32: refused for its type alone
                entry["dtype"] = draw(
                    same_width | st.sampled_from([*SAFETENSORS_DTYPE_BITS, "F31"])
                )
            elif part == "shape":
                entry["shape"] = draw(
                    st.just(entry["shape"][::-1])
                    | st.just([*entry["shape"], 1])
                    | st.lists(st.integers(-2, 40) | st.integers(2**62, 2**66), max_size=3)
                )
            else:
                shift = draw(st.integers(-8, 8))
                entry["data_offsets"] = draw(
                    st.just([o + shift for o in entry["data_offsets"]])
                    | st.lists(st.integers(-5, len(body) + 5), max_size=3)
                )
    elif change == "entry":  # the structure of an entry, or the set of names
        name = draw(st.sampled_from(names))
        part = draw(st.sampled_from(["any", "drop key", "extra key", "remove", "rename", "retype"]))
        if part == "any":
            header[name] = draw(json_values)
        elif part == "drop key":
            header[name].pop(draw(st.sampled_from(ENTRY_KEYS)))
        elif part == "extra key":
            header[name][draw(st.text(max_size=6))] = draw(json_values)
        elif part == "remove":
            header.pop(name)
        elif part == "rename":
            header[draw(st.sampled_from(["rnn.weight_ih_l1", "head.weight_reverse", "x"]))] = (
                header.pop(name)
            )
        else:
            header[name][draw(st.sampled_from(ENTRY_KEYS))] = draw(json_values)
    elif change == "bytes":
        size = draw(st.integers(1, 8))
        body = body + bytes(size) if draw(st.booleans()) else body[:-size]
    elif change == "values":  # a NaN among the weights
        at = 4 * draw(st.integers(0, len(body) // 4 - 1))
        body = body[:at] + struct.pack("<f", float("nan")) + body[at + 4 :]
    elif change == "framing":
        declared_extra = draw(st.sampled_from([-1, 1, 2**40]))
        prefix = draw(st.sampled_from([b" ", b""]))
        if not prefix and draw(st.booleans()):
            header = draw(json_values)
    elif change == "metadata":
        header["__metadata__"] = draw(json_values)
    text = prefix + json.dumps(header, allow_nan=True).encode()
    return struct.pack("<Q", max(len(text) + declared_extra, 0)) + text + body


def check(config: bytes, weights: bytes, built: list, outcomes: Counter) -> None:
    """The property: a loaded model, or one short ModelError and no module built; bounded Python memory."""
    built.clear()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    try:
        loaded = load_upload(config, weights)
    except ModelError as error:
        message = str(error)
        assert message and "\n" not in message and len(message) <= 500, message
        assert built == [], "a refused upload built its module"
        outcomes["refused"] += 1
    else:
        assert len(built) == 1 and not loaded.module.training
        outcomes["loaded"] += 1
    peak = tracemalloc.get_traced_memory()[1] - start
    assert peak <= 8 * (len(config) + len(weights)) + 4_000_000, f"peak {peak:,} bytes"


@pytest.fixture
def built_modules(monkeypatch) -> list:
    built: list = []
    build = models.build_module
    monkeypatch.setattr(
        models, "build_module", lambda config: built.append(config) or build(config)
    )
    return built


@pytest.fixture
def traced():
    tracemalloc.start()
    yield
    tracemalloc.stop()


FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_any_structured_config_loads_or_is_refused_with_a_message(built_modules, traced):
    outcomes: Counter = Counter()

    @FUZZ
    @given(data=st.data(), base=st.sampled_from(BASES))
    def run(data: Any, base: tuple[dict, dict, bytes]) -> None:
        payload, header, body = base
        weights = struct.pack("<Q", len(json.dumps(header))) + json.dumps(header).encode() + body
        check(data.draw(configs(payload)), weights, built_modules, outcomes)

    run()
    print(f"configs: {dict(outcomes)}")
    assert outcomes["loaded"] and outcomes["refused"]  # both ways were exercised


def test_any_structured_safetensors_file_loads_or_is_refused_with_a_message(built_modules, traced):
    outcomes: Counter = Counter()

    @FUZZ
    @given(data=st.data(), base=st.sampled_from(BASES))
    def run(data: Any, base: tuple[dict, dict, bytes]) -> None:
        payload, header, body = base
        check(
            json.dumps(payload).encode(),
            data.draw(safetensors_files(header, body)),
            built_modules,
            outcomes,
        )

    run()
    print(f"safetensors files: {dict(outcomes)}")
    assert outcomes["loaded"] and outcomes["refused"]


def test_any_pairing_of_structured_files_loads_or_is_refused_with_a_message(built_modules, traced):
    outcomes: Counter = Counter()

    @FUZZ
    @given(data=st.data(), config_base=st.sampled_from(BASES), weights_base=st.sampled_from(BASES))
    def run(
        data: Any, config_base: tuple[dict, dict, bytes], weights_base: tuple[dict, dict, bytes]
    ) -> None:
        config = data.draw(configs(config_base[0]))
        check(config, data.draw(safetensors_files(*weights_base[1:])), built_modules, outcomes)

    run()
    print(f"pairs: {dict(outcomes)}")
    assert outcomes["refused"]
