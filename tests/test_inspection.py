"""From a typed text to tokens, Trace and per-step predictions; and `rnnviz trace` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import rnnviz
from rnnviz.analysis.inspection import MAX_TEXT_CHARACTERS, inspect_text
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import ModelConfig, save
from rnnviz.models.tokenizers import CharTokenizer


@pytest.fixture(scope="module")
def sentiment():
    return rnnviz.load("sst2-lstm")


@pytest.fixture(scope="module")
def tiny_language_model(tmp_path_factory):
    """An untrained character LM saved and loaded like a bundled one (exercises the LM path)."""
    tokenizer = CharTokenizer.build("abcdefgh ijklmnop\n")
    config = ModelConfig(
        name="tiny-lm",
        description="test",
        task="language_model",
        cell_kind="lstm",
        vocab_size=tokenizer.vocab_size,
        embedding_dim=4,
        hidden_size=6,
        num_layers=2,
    )
    torch.manual_seed(0)
    from rnnviz.models.architectures import build_module

    folder = save(
        tmp_path_factory.mktemp("lm") / "tiny-lm", config, tokenizer, build_module(config)
    )
    return rnnviz.load(folder)


def test_classifier_run_has_one_column_per_token_and_the_models_own_final_prediction(sentiment):
    run = inspect_text(sentiment, "the movie was not good")
    assert run.tokens == ["the", "movie", "was", "not", "good"]
    assert run.predictions.shape == (5, 2)
    with torch.no_grad():
        direct = torch.softmax(sentiment.module(torch.tensor([run.encoding.ids])), -1)[0].numpy()
    np.testing.assert_allclose(run.predictions[-1], direct, atol=1e-6)
    hidden = run.states(0, "forward", "hidden")
    assert hidden.shape == (5, sentiment.config.hidden_size)
    # The head reads the last recorded hidden state: softmax(V·h_T + c) is the prediction.
    head = sentiment.module.head
    from_trace = torch.softmax(head(torch.from_numpy(hidden[-1])), -1).detach().numpy()
    np.testing.assert_allclose(from_trace, run.predictions[-1], atol=1e-5)


def test_unknown_words_are_reported_not_dropped(sentiment):
    run = inspect_text(sentiment, "the zzqxv was good")
    assert run.tokens[1] == "zzqxv" and run.encoding.unknown == [False, True, False, False]


def test_language_model_run_gives_a_next_token_distribution_at_every_position(tiny_language_model):
    run = inspect_text(tiny_language_model, "abc ha")
    assert run.predictions.shape == (6, tiny_language_model.config.vocab_size)
    np.testing.assert_allclose(run.predictions.sum(axis=1), 1.0, atol=1e-5)
    assert len(run.top_outcomes(0, 5)) == 5
    assert run.trace["rnn.layer1.forward.cell"].shape == (1, 6, 6)
    # read from the captured forward, it equals a plain forward pass of the model outside capture
    with torch.no_grad():
        plain = torch.softmax(
            tiny_language_model.module(torch.tensor([run.encoding.ids]))[0], dim=-1
        )
    np.testing.assert_allclose(run.predictions, plain.numpy(), atol=1e-6)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_is_refused_with_a_clear_message(sentiment, text):
    with pytest.raises(RnnvizError, match="empty"):
        inspect_text(sentiment, text)


def test_overlong_text_is_refused_or_truncated_on_request(sentiment):
    text = "good " * (MAX_TEXT_CHARACTERS // 5 + 10)
    with pytest.raises(RnnvizError, match="limit"):
        inspect_text(sentiment, text)
    run = inspect_text(sentiment, text, truncate=True)
    assert run.truncated and len(run.text) == MAX_TEXT_CHARACTERS


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "rnnviz.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_json_follows_the_documented_schema(sentiment):
    result = _cli("trace", "--model", "sst2-lstm", "--json", "did n't love it")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {
        "model",
        "task",
        "tokens",
        "unknown",
        "prediction",
        "per_step",
        "states",
        "exactness",
    }
    assert payload["tokens"] == ["did", "n't", "love", "it"]
    assert set(payload["prediction"]["probabilities"]) == set(sentiment.config.labels)
    assert len(payload["per_step"]) == 4
    assert abs(sum(payload["per_step"][1]["probabilities"].values()) - 1) < 1e-5
    forget = payload["states"]["rnn.layer0.forward.forget_gate"]
    assert len(forget) == 4 and len(forget[0]) == sentiment.config.hidden_size
    run = inspect_text(sentiment, "did n't love it")
    np.testing.assert_allclose(np.array(forget), run.states(0, "forward", "forget_gate"), atol=1e-7)


def test_cli_summary_names_tokens_and_prediction():
    result = _cli("trace", "--model", "sst2-lstm", "the movie was not good")
    assert result.returncode == 0, result.stderr
    assert "the movie was not good" in result.stdout and "predict" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["trace", "--model", "sst2-lstm", ""], "empty"),
        (["trace", "--model", "no-such-model", "good"], "no-such-model"),
        (["trace", "--model", "sst2-lstm", "x" * (MAX_TEXT_CHARACTERS + 1)], "limit"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(args, message):
    result = _cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
