"""Per-timestep predictions, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnviz
from rnnviz.analysis.predict import (
    class_probabilities_per_step,
    next_token_distribution,
    predict_label,
    sample_continuation,
)
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel, ModelConfig, build_module
from rnnviz.models.tokenizers import CharTokenizer, WordTokenizer


def _classifier(cell: str, bidirectional: bool, num_layers: int = 1) -> LoadedModel:
    tok = WordTokenizer.build(["the movie was not good at all", "never boring"])
    cfg = ModelConfig(
        name="t",
        description="",
        task="classifier",
        cell_kind=cell,
        vocab_size=tok.vocab_size,
        embedding_dim=5,
        hidden_size=4,
        num_layers=num_layers,
        bidirectional=bidirectional,
        labels=["negative", "positive", "neutral"],
    )
    torch.manual_seed(1)
    return LoadedModel(cfg, tok, build_module(cfg).eval())


def _lm() -> LoadedModel:
    tok = CharTokenizer.build("to be or not to be")
    cfg = ModelConfig(
        name="lm",
        description="",
        task="language_model",
        cell_kind="lstm",
        vocab_size=tok.vocab_size,
        embedding_dim=4,
        hidden_size=8,
        num_layers=2,
    )
    torch.manual_seed(2)
    return LoadedModel(cfg, tok, build_module(cfg).eval())


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_unidirectional_per_step_probabilities_equal_head_of_h_t(cell):
    m = _classifier(cell, bidirectional=False, num_layers=2)
    ids = m.tokenizer.encode("the movie was not good").ids
    with torch.no_grad():
        out, _ = m.module.rnn(m.module.embedding(torch.tensor([ids])))  # full output, last layer
        expected = torch.softmax(out[0] @ m.module.head.weight.T + m.module.head.bias, -1).numpy()
    got = class_probabilities_per_step(m, ids)
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_per_step_probabilities_equal_running_each_prefix_alone(cell):
    for bidirectional in (False, True):
        m = _classifier(cell, bidirectional=bidirectional, num_layers=2)
        ids = m.tokenizer.encode("the movie was never boring").ids
        got = class_probabilities_per_step(m, ids)
        with torch.no_grad():
            for t in range(len(ids)):
                alone = torch.softmax(m.module(torch.tensor([ids[: t + 1]])), -1)[0].numpy()
                np.testing.assert_allclose(got[t], alone, atol=1e-6)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)


def test_last_step_is_the_whole_sentence_prediction():
    m = _classifier("lstm", bidirectional=True)
    label, probs = predict_label(m, "not good")
    with torch.no_grad():
        ref = torch.softmax(m.module(torch.tensor([m.tokenizer.encode("not good").ids])), -1)[
            0
        ].numpy()
    np.testing.assert_allclose(probs, ref, atol=1e-6)
    assert label == m.config.labels[int(ref.argmax())]


def test_text_and_ids_give_the_same_curve():
    m = _classifier("rnn_tanh", bidirectional=False)
    np.testing.assert_array_equal(
        class_probabilities_per_step(m, "not good"),
        class_probabilities_per_step(m, m.tokenizer.encode("not good").ids),
    )


def test_next_token_distribution_is_softmax_of_the_lm_logits():
    m = _lm()
    ids = m.tokenizer.encode("to be").ids
    got = next_token_distribution(m, ids)
    with torch.no_grad():
        out, _ = m.module.rnn(m.module.embedding(torch.tensor([ids])))
        ref = torch.softmax(m.module.head(out[0]), -1).numpy()
    assert got.shape == (5, m.config.vocab_size)
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_sampling_is_seeded_and_never_emits_pad_or_unk():
    m = _lm()
    a = sample_continuation(m, "to ", n_chars=40, temperature=1.0, seed=3)
    b = sample_continuation(m, "to ", n_chars=40, temperature=1.0, seed=3)
    assert a == b and len(a) == 40 and "\ufffd" not in a
    assert set(a) <= set("to be or not to be")


def test_wrong_task_and_empty_input_are_user_errors():
    with pytest.raises(RnnvizError, match="not a language model"):
        next_token_distribution(_classifier("lstm", False), [2])
    with pytest.raises(RnnvizError, match="not a classifier"):
        class_probabilities_per_step(_lm(), [2])
    with pytest.raises(RnnvizError, match="empty"):
        class_probabilities_per_step(_classifier("lstm", False), "")
    with pytest.raises(RnnvizError, match="outside the vocabulary"):
        class_probabilities_per_step(_classifier("lstm", False), [999])


def test_bundled_lm_predicts_shakespeare_like_text():
    m = rnnviz.load("shakespeare-char-lstm")
    text = "ROMEO:\nWhat light"
    probs = next_token_distribution(m, text)
    ids = m.tokenizer.encode(text).ids
    nll = -np.mean(np.log(probs[np.arange(len(ids) - 1), ids[1:]]))
    assert nll < 2.5  # a uniform guess over the vocabulary would be ~4.2 nats
    s = sample_continuation(m, "KING", n_chars=80, temperature=0.8, seed=0)
    assert s == sample_continuation(m, "KING", n_chars=80, temperature=0.8, seed=0)


def test_negation_flips_the_best_models_prediction_mid_sentence():
    m = rnnviz.load("sst2-bilstm")
    good = class_probabilities_per_step(m, "the movie was good")[-1]
    not_good = class_probabilities_per_step(m, "the movie was not good")[-1]
    pos = m.config.labels.index("positive")
    assert good[pos] > 0.5 > not_good[pos]
