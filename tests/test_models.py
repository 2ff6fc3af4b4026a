"""Model configs, save/load validation, and the bundled models themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SST2_DIR, needs_sst2
from safetensors.torch import load_file, save_file

import rnnviz
from rnnviz.analysis.predict import class_probabilities_per_step
from rnnviz.errors import ModelError
from rnnviz.models.architectures import (
    CONFIG_FILE,
    PRETRAINED_DIR,
    WEIGHTS_FILE,
    CharLanguageModel,
    ModelConfig,
    TextClassifier,
    build_module,
    bundled_names,
    load,
    save,
)
from rnnviz.models.negation import CONTRAST_PAIRS, contrast_examples
from rnnviz.models.tokenizers import WordTokenizer

EXPECTED_BUNDLED = [
    "agnews-lstm",
    "agnews-rnn",
    "sst2-bilstm",
    "sst2-gru",
    "sst2-lstm",
    "sst2-rnn",
    "shakespeare-char-lstm",
]
SST2_MODELS = ["sst2-lstm", "sst2-bilstm", "sst2-gru", "sst2-rnn"]


def tiny_classifier(tmp_path: Path, cell_kind="lstm", bidirectional=False, num_layers=1):
    tok = WordTokenizer.build(["the movie was good", "not bad at all"])
    cfg = ModelConfig(
        name="tiny",
        description="test model",
        task="classifier",
        cell_kind=cell_kind,
        vocab_size=tok.vocab_size,
        embedding_dim=8,
        hidden_size=6,
        num_layers=num_layers,
        bidirectional=bidirectional,
        labels=["negative", "positive"],
    )
    torch.manual_seed(0)
    module = build_module(cfg)
    return save(tmp_path / "tiny", cfg, tok, module), cfg, tok, module


# ---------------------------------------------------------------- architecture


@pytest.mark.parametrize(
    "cell, cls", [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU), ("rnn_tanh", torch.nn.RNN)]
)
def test_modules_have_the_fixed_submodule_names_capture_relies_on(cell, cls):
    clf = build_module(
        ModelConfig(
            name="c",
            description="",
            task="classifier",
            cell_kind=cell,
            vocab_size=10,
            embedding_dim=4,
            hidden_size=3,
            labels=["a", "b"],
        )
    )
    lm = build_module(
        ModelConfig(
            name="l",
            description="",
            task="language_model",
            cell_kind=cell,
            vocab_size=10,
            embedding_dim=4,
            hidden_size=3,
            num_layers=2,
        )
    )
    for m in (clf, lm):
        assert isinstance(m.embedding, torch.nn.Embedding)
        assert type(m.rnn) is cls and m.rnn.batch_first
        assert isinstance(m.head, torch.nn.Linear)
    assert isinstance(clf, TextClassifier) and isinstance(lm, CharLanguageModel)
    assert lm(torch.randint(0, 10, (2, 5))).shape == (2, 5, 10)


def test_classifier_reads_the_final_state_of_each_sequence_despite_padding(tmp_path):
    _, cfg, _, module = tiny_classifier(tmp_path, bidirectional=True, num_layers=2)
    module.eval()
    a, b = [2, 3, 4, 5], [6, 7]
    batch = torch.tensor([a, b + [0, 0]])
    together = module(batch, torch.tensor([4, 2]))
    alone = torch.cat([module(torch.tensor([a])), module(torch.tensor([b]))])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-5)


def test_classifier_head_reads_last_layer_final_hidden_state_by_hand(tmp_path):
    _, cfg, _, module = tiny_classifier(tmp_path, cell_kind="gru", bidirectional=True)
    module.eval()
    x = torch.tensor([[2, 3, 4]])
    out, _ = module.rnn(module.embedding(x))  # [1, T, 2H]
    h = cfg.hidden_size
    manual = torch.cat(
        [out[0, -1, :h], out[0, 0, h:]]
    )  # forward after last token, backward after first
    torch.testing.assert_close(module(x)[0], module.head(manual))


# ---------------------------------------------------------------- save / load validation


def test_save_then_load_round_trips_config_tokenizer_and_weights(tmp_path):
    folder, cfg, tok, module = tiny_classifier(tmp_path)
    loaded = load(folder)
    assert loaded.config == cfg
    assert loaded.tokenizer.itos == tok.itos
    assert not loaded.module.training
    for k, v in module.state_dict().items():
        torch.testing.assert_close(loaded.module.state_dict()[k], v)


def test_float16_storage_halves_the_file_and_loads_as_the_rounded_float32_weights(tmp_path):
    _, cfg, tok, module = tiny_classifier(tmp_path)
    full = save(tmp_path / "full", cfg, tok, module)
    half = save(tmp_path / "half", cfg, tok, module, weights_dtype="float16")
    stored = load_file(str(half / WEIGHTS_FILE))
    assert {t.dtype for t in stored.values()} == {torch.float16}
    full_bytes = sum(
        t.numel() * t.element_size() for t in load_file(str(full / WEIGHTS_FILE)).values()
    )
    assert sum(t.numel() * t.element_size() for t in stored.values()) * 2 == full_bytes
    loaded = load(half)
    for k, v in module.state_dict().items():
        assert loaded.module.state_dict()[k].dtype == torch.float32
        torch.testing.assert_close(
            loaded.module.state_dict()[k], v.to(torch.float16).to(torch.float32), rtol=0, atol=0
        )
    with pytest.raises(ModelError, match="float32 or float16"):
        save(tmp_path / "odd", cfg, tok, module, weights_dtype="int8")


def test_config_json_is_plain_json_with_architecture_tokenizer_and_labels(tmp_path):
    folder, cfg, _, _ = tiny_classifier(tmp_path)
    payload = json.loads((folder / CONFIG_FILE).read_text())
    assert payload["model"]["cell_kind"] == "lstm" and payload["model"]["labels"] == [
        "negative",
        "positive",
    ]
    assert payload["tokenizer"]["type"] == "word" and payload["tokenizer"]["vocab"][:2] == [
        "<pad>",
        "<unk>",
    ]


def _rewrite(folder: Path, edit) -> None:
    t = load_file(str(folder / WEIGHTS_FILE))
    edit(t)
    save_file(t, str(folder / WEIGHTS_FILE))


def test_missing_tensor_is_named(tmp_path):
    folder, *_ = tiny_classifier(tmp_path)
    _rewrite(folder, lambda t: t.pop("head.bias"))
    with pytest.raises(ModelError, match=r"missing tensors \['head.bias'\]"):
        load(folder)


def test_extra_tensor_is_named(tmp_path):
    folder, *_ = tiny_classifier(tmp_path)
    _rewrite(folder, lambda t: t.__setitem__("rnn.weight_hh_l1", torch.zeros(3)))
    with pytest.raises(ModelError, match=r"unexpected tensors \['rnn.weight_hh_l1'\]"):
        load(folder)


def test_shape_mismatch_is_named(tmp_path):
    folder, *_ = tiny_classifier(tmp_path)
    _rewrite(folder, lambda t: t.__setitem__("head.weight", torch.zeros(3, 6)))
    with pytest.raises(
        ModelError, match=r"'head.weight' has shape \(3, 6\), config implies \(2, 6\)"
    ):
        load(folder)


def test_nan_weights_are_rejected(tmp_path):
    folder, *_ = tiny_classifier(tmp_path)
    _rewrite(folder, lambda t: t["head.bias"].fill_(float("nan")))
    with pytest.raises(ModelError, match="head.bias.*NaN"):
        load(folder)


def test_bad_config_values_and_files_are_reported(tmp_path):
    folder, *_ = tiny_classifier(tmp_path)
    payload = json.loads((folder / CONFIG_FILE).read_text())
    payload["model"]["cell_kind"] = "transformer"
    (folder / CONFIG_FILE).write_text(json.dumps(payload))
    with pytest.raises(ModelError, match="cell_kind must be one of"):
        load(folder)
    (folder / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load(folder)
    (folder / WEIGHTS_FILE).write_bytes(b"garbage")
    (folder / CONFIG_FILE).unlink()
    with pytest.raises(ModelError, match="config.json: missing"):
        load(folder)
    with pytest.raises(ModelError, match="no bundled model or folder named 'no-such-model'"):
        load("no-such-model")


def test_vocab_size_must_match_tokenizer(tmp_path):
    folder, *_ = tiny_classifier(tmp_path)
    payload = json.loads((folder / CONFIG_FILE).read_text())
    payload["model"]["vocab_size"] += 1
    (folder / CONFIG_FILE).write_text(json.dumps(payload))
    with pytest.raises(ModelError, match="tokenizer has .* entries but vocab_size is"):
        load(folder)


def test_language_model_cannot_be_bidirectional():
    with pytest.raises(ModelError, match="cannot be bidirectional"):
        ModelConfig(
            name="x",
            description="",
            task="language_model",
            cell_kind="lstm",
            vocab_size=5,
            embedding_dim=2,
            hidden_size=2,
            bidirectional=True,
        )


# ---------------------------------------------------------------- bundled models


def test_all_bundled_models_are_present_and_small():
    assert bundled_names() == sorted(EXPECTED_BUNDLED)
    total = sum(f.stat().st_size for f in PRETRAINED_DIR.rglob("*") if f.is_file())
    assert total < 40 * 1024 * 1024, (
        f"pretrained/ is {total / 2**20:.1f} MiB"
    )  # the budget of issue 16


@pytest.mark.parametrize("name", EXPECTED_BUNDLED)
def test_bundled_model_loads_and_config_matches_weights(name):
    m = rnnviz.load(name)
    assert m.config.name == name
    folder = PRETRAINED_DIR / name
    assert (folder / "README.md").is_file()
    card = (folder / "README.md").read_text()
    assert "sha256" in card and f"rnnviz train {name}" in card and "seed" in card
    tensors = load_file(str(folder / WEIGHTS_FILE))
    assert tensors.keys() == m.module.state_dict().keys()
    assert 64 <= m.config.hidden_size <= 256
    if name.startswith("agnews-"):  # news topics: tests/test_agnews.py checks them further
        assert m.config.labels == ["World", "Sports", "Business", "Sci/Tech"]
        assert {"dev_accuracy", "test_accuracy", "test_titles_only_accuracy"} <= set(
            m.config.metrics
        )
    elif m.config.task == "classifier":
        assert m.config.labels == ["negative", "positive"]
        assert {"dev_accuracy", "test_accuracy", "contrast_accuracy"} <= set(m.config.metrics)
    else:
        assert m.config.metrics["val_loss_nats_per_char"] <= 1.50


@pytest.mark.parametrize("name", SST2_MODELS)
def test_bundled_predictions_are_deterministic(name):
    m = rnnviz.load(name)
    a = class_probabilities_per_step(m, "the movie was not good , but the actors were great")
    b = class_probabilities_per_step(
        rnnviz.load(name), "the movie was not good , but the actors were great"
    )
    np.testing.assert_array_equal(a, b)


def _contrast_accuracy(name: str) -> float:
    m = rnnviz.load(name)
    ex = contrast_examples()
    correct = [int(class_probabilities_per_step(m, t)[-1].argmax()) == y for t, y in ex]
    return sum(correct) / len(correct)


@pytest.mark.parametrize("name", SST2_MODELS)
def test_contrast_accuracy_matches_the_card(name, record_property):
    acc = _contrast_accuracy(name)
    record_property(f"{name}_contrast_accuracy", acc)
    print(f"{name}: negation contrast accuracy {acc:.3f} on {2 * len(CONTRAST_PAIRS)} sentences")
    assert acc == pytest.approx(rnnviz.load(name).config.metrics["contrast_accuracy"], abs=1e-6)


def test_best_model_gets_negation_contrast_pairs_right():
    assert _contrast_accuracy("sst2-bilstm") >= BEST_CONTRAST


@needs_sst2
@pytest.mark.parametrize("name", SST2_MODELS)
def test_dev_rows_reproduce_card_accuracy(name):
    m = rnnviz.load(name)
    lines = (SST2_DIR / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    rows = [(line.split("\t")[0], int(line.split("\t")[1])) for line in lines]
    assert len(rows) == 872
    # typed-text path: tokenizer + per-step predictions, independent of the training loop's batching
    correct = sum(int(class_probabilities_per_step(m, t)[-1].argmax()) == y for t, y in rows)
    assert abs(correct / len(rows) - m.config.metrics["dev_accuracy"]) <= 0.02


# set once the bundled models are trained: what the best model honestly reaches
BEST_CONTRAST = 0.85  # sst2-bilstm reached 0.85 (34/40); the 0.9 aim was not reached


@pytest.mark.parametrize(
    "legacy, kind, module_class", [("rnn", "rnn_tanh", torch.nn.RNN), ("gru", "gru", torch.nn.GRU)]
)
def test_a_folder_written_before_cell_kind_still_loads(tmp_path, legacy, kind, module_class):
    """config.json files from before the cell kind had one spelling say {"cell": "rnn"}."""
    folder, *_ = tiny_classifier(tmp_path, cell_kind=kind)
    payload = json.loads((folder / CONFIG_FILE).read_text())
    payload["model"].pop("cell_kind")
    payload["model"]["cell"] = legacy
    (folder / CONFIG_FILE).write_text(json.dumps(payload))
    loaded = load(folder)
    assert loaded.config.cell_kind == kind and type(loaded.module.rnn) is module_class
    if kind == "rnn_tanh":
        assert loaded.module.rnn.nonlinearity == "tanh"


def test_a_relu_rnn_is_a_cell_kind_of_the_format(tmp_path):
    folder, *_ = tiny_classifier(tmp_path, cell_kind="rnn_relu")
    loaded = load(folder)
    assert loaded.config.cell_kind == "rnn_relu" and loaded.module.rnn.nonlinearity == "relu"
