"""Exactness: a capture's h and c against the module's own output, h_n and c_n; untrained copies."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import SHAKESPEARE, SST2_DIR
from test_capture import CELLS, Config, initial_states, sequences
from torch.nn.utils.rnn import pack_sequence

import rnnviz
from rnnviz import RnnvizError
from rnnviz.analysis.inspection import inspect_text
from rnnviz.analysis.untrained import untrained_copy
from rnnviz.cli import main
from rnnviz.core import capture
from rnnviz.core.exactness import EXACT_WITHIN, capture_exactness, run_exactness
from rnnviz.models.architectures import bundled_names


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("packed", [False, True])
def test_a_capture_matches_the_module_outputs_within_the_bound(cell, packed):
    config = Config(cell=cell, num_layers=2, bidirectional=True, batch_first=False)
    module = config.build()
    seqs = sequences(config, [4, 6, 2] if packed else [5, 5, 5])
    hx = initial_states(config, 3)
    inputs = pack_sequence(seqs, enforce_sorted=False) if packed else torch.stack(seqs, dim=1)
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(inputs, hx)
    exactness = capture_exactness(trace, module, inputs, hx)
    expected_checks = (
        {"output", "h_n"}
        | ({"c_n", "h from gates"} if cell == "lstm" else set())
        | ({"h from gates"} if cell == "gru" else set())
    )
    assert set(exactness.by_check) == expected_checks
    assert exactness.max_abs_error == max(exactness.by_check.values())
    assert exactness.max_abs_error <= EXACT_WITHIN and exactness.exact
    # relative only where a value exceeds 1, so never more than the absolute difference
    assert exactness.max_scaled_error <= exactness.max_abs_error


def test_exactness_sees_a_recorded_value_that_is_off():
    config = Config(cell="lstm", proj_size=3)
    module = config.build()
    x = torch.stack(sequences(config, [5]))
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(x)
    assert capture_exactness(trace, module, x).exact
    trace.tensors["layer0.forward.cell"][0, -1, 2] += 1e-3
    off = capture_exactness(trace, module, x)
    assert off.by_check["c_n"] == pytest.approx(1e-3, rel=1e-2) and not off.exact
    trace.tensors["layer0.forward.cell"][0, -1, 2] -= 1e-3
    # A wrong gate shows in h = W_hr (o ⊙ tanh c).
    trace.tensors["layer0.forward.output_gate"][0, 1] *= 0.9
    assert capture_exactness(trace, module, x).by_check["h from gates"] > 1e-3


def test_an_edited_capture_is_not_the_unedited_module():
    config = Config(cell="gru")
    module = config.build()
    x = torch.stack(sequences(config, [5]))
    edits = [rnnviz.Edit("layer0.forward.update_gate", value=0.5)]
    with torch.no_grad(), rnnviz.capture(module, edits=edits) as trace:
        module(x)
    exactness = capture_exactness(trace, module, x)
    # The edited trace obeys its own equations, and differs from what the unedited module returns.
    assert exactness.by_check["h from gates"] <= EXACT_WITHIN
    assert exactness.by_check["output"] > 1e-3


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_model_matches_pytorch(name):
    loaded = rnnviz.load(name)
    run = inspect_text(loaded, "the movie was not good")
    exactness = run_exactness(loaded, run)
    assert "output" in exactness.by_check and exactness.exact, exactness


def test_trace_json_states_its_exactness(capsys):
    assert main(["trace", "--model", "sst2-lstm", "--json", "the movie was not good"]) == 0
    payload = json.loads(capsys.readouterr().out)
    loaded = rnnviz.load("sst2-lstm")
    expected = run_exactness(loaded, inspect_text(loaded, "the movie was not good")).max_abs_error
    assert payload["exactness"] == {
        "max_abs_error": pytest.approx(expected, abs=1e-12),
        "max_scaled_error": pytest.approx(expected, abs=1e-12),
        "exact": True,
    }
    # c is rebuilt from the gates, so the difference is small but not trivially zero.
    assert 0 < payload["exactness"]["max_abs_error"] <= EXACT_WITHIN


def test_untrained_copy_is_seeded_deterministic_and_not_the_trained_model():
    trained = rnnviz.load("sst2-gru")
    state = torch.random.get_rng_state()
    first, again, other = (
        untrained_copy(trained, 3),
        untrained_copy(trained, 3),
        untrained_copy(trained, 4),
    )
    assert torch.equal(torch.random.get_rng_state(), state)  # the global random state is left alone
    weights = {k: v for k, v in first.module.state_dict().items()}
    assert weights.keys() == trained.module.state_dict().keys()
    for key, value in weights.items():
        assert value.shape == trained.module.state_dict()[key].shape
        assert torch.equal(value, again.module.state_dict()[key])
    assert not torch.equal(
        weights["rnn.weight_hh_l0"], other.module.state_dict()["rnn.weight_hh_l0"]
    )
    assert not torch.equal(
        weights["rnn.weight_hh_l0"], trained.module.state_dict()["rnn.weight_hh_l0"]
    )
    assert first.tokenizer is trained.tokenizer and not first.module.training
    assert "untrained, seed 3" in first.name and first.config.metrics == {}
    run = inspect_text(first, "the movie was not good")
    assert (
        run.trace["rnn.layer0.forward.hidden"].shape == (1, 5, 128)
        and run_exactness(first, run).exact
    )
    with pytest.raises(RnnvizError, match="non-negative integer"):
        untrained_copy(trained, -1)


def _long_text(loaded) -> str:
    """2,000 characters of Tiny Shakespeare for the character model, 300 words of SST-2 dev
    sentences for the word models; seeded words of the model's own vocabulary where the data
    is absent (so the test runs everywhere, on real text where it can)."""
    character_model = loaded.config.name.startswith("shakespeare")
    if character_model and SHAKESPEARE.is_file():
        return SHAKESPEARE.read_text(encoding="utf-8")[:2000]
    if not character_model and (SST2_DIR / "dev.tsv").is_file():
        rows = (SST2_DIR / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
        return " ".join(" ".join(row.split("\t")[0] for row in rows).split()[:300])
    vocabulary = loaded.tokenizer.itos[2:]
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(len(vocabulary), (2000 if character_model else 300,), generator=generator)
    return ("" if character_model else " ").join(vocabulary[i] for i in picks.tolist())


def _module_cells_every(loaded, ids, every: int) -> dict[int, torch.Tensor]:
    """The module's own c ([layers · directions, units]) after steps every−1, 2·every−1, …: its fused
    forward over chunks of `every` tokens, (h, c) carried, unidirectional models only."""
    rnn = loaded.module.rnn
    with torch.no_grad():
        x = loaded.module.embedding(torch.tensor([ids]))
        state, found = None, {}
        for start in range(0, x.shape[1] - every + 1, every):
            _, state = rnn(x[:, start : start + every], state)
            found[start + every - 1] = state[1][:, 0]
    return found


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_model_is_exact_on_a_long_text(name):
    """Issue 20 item 9: 2,000 characters on the character model, 300 words on the word models —
    `rnnviz trace --json`'s exactness stays within 1e-5 in every layer and direction."""
    loaded = rnnviz.load(name)
    run = inspect_text(loaded, _long_text(loaded))
    assert len(run.tokens) >= (2000 if name.startswith("shakespeare") else 300)
    exactness = run_exactness(loaded, run)
    assert exactness.exact and exactness.max_scaled_error <= EXACT_WITHIN, exactness
    if loaded.config.cell_kind == "lstm" and len(run.tokens) > capture.ANCHOR_STEPS:
        # the rebuilt c is checked inside the text too, where it drifted longest since an anchor
        assert "c before anchors" in exactness.by_check
    if loaded.config.cell_kind != "lstm" or loaded.config.bidirectional:
        return
    # Inside the text, too: the recorded c against the module's own c at the ends of 23-token
    # chunks (a grid apart from the capture's), relative where |c| exceeds 1 — a counting unit's c
    # reaches hundreds on long texts, where float32 itself is spaced ~3e-5.
    for step, module_cells in _module_cells_every(loaded, run.encoding.ids, 23).items():
        for layer in range(loaded.config.num_layers):
            recorded = run.trace[f"rnn.layer{layer}.forward.cell"][0, step]
            expected = module_cells[layer].double()
            difference = (recorded.double() - expected).abs() / expected.abs().clamp(min=1.0)
            assert difference.max() <= EXACT_WITHIN, (step, layer, float(difference.max()))


def test_a_drift_inside_a_long_text_is_seen_although_c_n_is_anchored():
    """Past ANCHOR_STEPS the capture restarts c from the module's own at chunk ends, so the final
    c_n matches by construction; the check one step before each anchor still sees a wrong c there."""
    loaded = rnnviz.load("shakespeare-char-lstm")
    run = inspect_text(loaded, _long_text(loaded)[:400])
    anchors = capture.anchored_steps(loaded.module.rnn, len(run.tokens))
    assert len(anchors) >= 3 and anchors[-1] == len(run.tokens) - 1
    before = run_exactness(loaded, run)
    assert before.exact and before.by_check["c_n"] == 0.0
    cells = run.trace.tensors["rnn.layer1.forward.cell"]
    cells[0, anchors[1] - 1, 7] += 1e-3
    after = run_exactness(loaded, run)
    assert after.by_check["c before anchors"] >= 1e-3 - 1e-6 and not after.exact


def test_large_c_is_held_to_the_bound_relative_to_its_size():
    """The vanishing-gradient preset drives an sst2-lstm unit's c to about 39, where float32 values
    are 3.8e-6 apart: the rebuilt c_n is a few of those spacings from PyTorch's, more than 1e-5
    absolute, and within the bound relative to |c|."""
    from rnnviz.models.presets import VANISHING_GRADIENT_TEXT

    loaded = rnnviz.load("sst2-lstm")
    run = inspect_text(loaded, VANISHING_GRADIENT_TEXT)
    assert float(run.trace["rnn.layer0.forward.cell"].abs().max()) > 30
    exactness = run_exactness(loaded, run)
    assert exactness.max_scaled_error <= EXACT_WITHIN and exactness.exact
    assert exactness.max_abs_error > 2 * exactness.max_scaled_error  # scaled where |c| is large
