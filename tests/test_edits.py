"""Edits inside the recurrence: `rnnviz.capture(model, edits=[Edit(...)])`.

Every check compares against an independent computation: PyTorch's own outputs, the step-by-step
equations of tests/reference.py with the same intervention applied by its own edit hook, or
arithmetic written out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import reference_states
from test_capture import CELLS, Config, assert_close, initial_states, sequences
from torch import nn
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

import rnnviz
from rnnviz import Edit, RnnvizError
from rnnviz.core.trace import QUANTITIES_BY_CELL_KIND


def reference_edit(edits: list[Edit], b: int):
    """The reference's edit hook for sequence `b`, read from the Edit fields by its own rules."""

    def hook(name: str, t: int, steps: int, value: torch.Tensor) -> torch.Tensor:
        for edit in edits:
            if edit.name != name or (edit.batch is not None and b not in edit.batch):
                continue
            if edit.steps is None:
                hit = True
            elif isinstance(edit.steps, slice):
                hit = t in range(steps)[edit.steps]
            else:
                chosen = [edit.steps] if isinstance(edit.steps, int) else edit.steps
                hit = any(p == t or p + steps == t for p in chosen)
            if not hit:
                continue
            value = value.clone()
            units = list(range(value.shape[0])) if edit.units is None else list(edit.units)
            for u in units:
                value[u] = edit.value if edit.value is not None else value[u] * edit.scale
        return value

    return hook


def edited(module, inputs, hx, edits):
    with torch.no_grad(), rnnviz.capture(module, edits=edits) as trace:
        output, final = module(inputs, hx)
    return trace, output, final


def check_edited_against_reference(module, config, seqs, hx, edits, trace, output, final):
    """Every recorded quantity (none where `trace` is None), the output and h_n / c_n equal the
    reference with the same edits."""
    padded = (
        pad_packed_sequence(output, batch_first=True)[0]
        if not isinstance(output, torch.Tensor)
        else (output if config.batch_first else output.transpose(0, 1))
    )
    h_n, c_n = final if isinstance(final, tuple) else (final, None)
    last = config.num_layers - 1
    for b, seq in enumerate(seqs):
        h0 = c0 = None
        if hx is not None:
            h0, c0 = (hx[0][:, b], hx[1][:, b]) if isinstance(hx, tuple) else (hx[:, b], None)
        reference = reference_states(module, seq, h0, c0, edit=reference_edit(edits, b))
        n = seq.shape[0]
        for name, expected in reference.items() if trace is not None else ():
            assert_close(trace[name][b, :n], expected, f"{name} of sequence {b}")
            assert torch.isnan(trace[name][b, n:]).all()
        directions = ("forward", "backward")[: config.directions]
        expected_output = torch.cat(
            [reference[f"layer{last}.{d}.hidden"] for d in directions], dim=-1
        )
        assert_close(padded[b, :n], expected_output, f"output of sequence {b}")
        for layer in range(config.num_layers):
            for d, direction in enumerate(directions):
                at = n - 1 if d == 0 else 0
                row = layer * config.directions + d
                assert_close(
                    h_n[row, b],
                    reference[f"layer{layer}.{direction}.hidden"][at],
                    f"h_n {layer} {direction}",
                )
                if c_n is not None:
                    assert_close(
                        c_n[row, b],
                        reference[f"layer{layer}.{direction}.cell"][at],
                        f"c_n {layer} {direction}",
                    )


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_scaling_every_quantity_by_one_reproduces_the_module_outputs(
    cell, bidirectional, batch_first
):
    config = Config(cell=cell, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    module = config.build()
    seqs = sequences(config, [6, 6, 6])
    batch = torch.stack(seqs, dim=0 if batch_first else 1)
    hx = initial_states(config, 3)
    names = [
        f"layer{k}.{d}.{q}"
        for k in range(2)
        for d in ("forward", "backward")[: config.directions]
        for q in QUANTITIES_BY_CELL_KIND[cell]
    ]
    with torch.no_grad():
        expected_output, expected_final = module(batch, hx)
        with rnnviz.capture(module) as plain:
            module(batch, hx)
    trace, output, final = edited(module, batch, hx, [Edit(name, scale=1.0) for name in names])
    assert_close(output, expected_output, "output")
    for mine, theirs in zip(
        final if isinstance(final, tuple) else (final,),
        expected_final if isinstance(expected_final, tuple) else (expected_final,),
    ):
        assert_close(mine, theirs, "final state")
    assert set(trace.names()) == set(plain.names())
    for name in plain.names():
        assert_close(trace[name], plain[name], name)


@pytest.mark.parametrize("cell", CELLS)
def test_setting_one_unit_to_the_value_it_already_has_changes_nothing(cell):
    config = Config(cell=cell, num_layers=2, bidirectional=True)
    module = config.build()
    batch = torch.stack(sequences(config, [5]))
    with torch.no_grad():
        expected_output, _ = module(batch)
        with rnnviz.capture(module) as plain:
            module(batch)
    quantity = QUANTITIES_BY_CELL_KIND[cell][0]
    name = f"layer0.backward.{quantity}"
    value = float(plain[name][0, 2, 3])
    trace, output, _ = edited(module, batch, None, [Edit(name, units=[3], steps=2, value=value)])
    assert_close(output, expected_output, "output")
    assert_close(trace["layer1.forward.hidden"], plain["layer1.forward.hidden"], "next layer")


def test_forget_gate_one_and_input_gate_zero_keep_the_cell_state_at_c0():
    config = Config(cell="lstm", num_layers=2, bidirectional=True)
    module = config.build()
    batch = torch.stack(sequences(config, [7, 7]))
    h0, c0 = initial_states(config, 2)
    edits = [
        Edit(f"layer{k}.{d}.{gate}", value=value)
        for k in range(2)
        for d in ("forward", "backward")
        for gate, value in (("forget_gate", 1.0), ("input_gate", 0.0))
    ]
    trace, output, (h_n, c_n) = edited(module, batch, (h0, c0), edits)
    for k in range(2):
        for d, direction in enumerate(("forward", "backward")):
            start = c0[2 * k + d].unsqueeze(1).expand(-1, 7, -1)
            assert torch.equal(trace[f"layer{k}.{direction}.cell"], start)
            expected_h = trace[f"layer{k}.{direction}.output_gate"] * torch.tanh(start)
            assert_close(trace[f"layer{k}.{direction}.hidden"], expected_h, "h = o ⊙ tanh(c0)")
            assert torch.equal(c_n[2 * k + d], c0[2 * k + d])
    assert_close(
        output,
        torch.cat([trace["layer1.forward.hidden"], trace["layer1.backward.hidden"]], -1),
        "output",
    )


def test_gru_update_gate_one_keeps_h_at_h0():
    """PyTorch's convention h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}: z = 1 keeps the state."""
    config = Config(cell="gru", num_layers=2)
    module = config.build()
    seqs = sequences(config, [6, 6])
    h0 = initial_states(config, 2)
    edits = [Edit("layer0.forward.update_gate", value=1.0)]
    trace, output, h_n = edited(module, torch.stack(seqs), h0, edits)
    assert torch.equal(trace["layer0.forward.hidden"], h0[0].unsqueeze(1).expand(-1, 6, -1))
    assert torch.equal(h_n[0], h0[0])
    check_edited_against_reference(module, config, seqs, h0, edits, trace, output, h_n)


def test_one_unit_lstm_edit_matches_a_hand_computation():
    module = nn.LSTM(1, 1, batch_first=True).eval()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor([[0.5], [-1.0], [2.0], [1.5]]))  # i, f, g, o rows
        module.weight_hh_l0.copy_(torch.tensor([[0.3], [0.2], [-0.4], [0.1]]))
        module.bias_ih_l0.copy_(torch.tensor([0.1, 0.5, 0.0, -0.2]))
        module.bias_hh_l0.zero_()
    xs = [1.0, -2.0, 0.5]
    edits = [
        Edit("layer0.forward.forget_gate", steps=1, value=0.25),
        Edit("layer0.forward.cell", steps=2, scale=0.5),
    ]
    trace, output, (h_n, c_n) = edited(module, torch.tensor([[[x] for x in xs]]), None, edits)

    def sigma(v):
        return 1 / (1 + math.exp(-v))

    h = c = 0.0
    expected_h, expected_c = [], []
    for t, x in enumerate(xs):
        i = sigma(0.5 * x + 0.3 * h + 0.1)
        f = 0.25 if t == 1 else sigma(-1.0 * x + 0.2 * h + 0.5)
        g = math.tanh(2.0 * x - 0.4 * h)
        o = sigma(1.5 * x + 0.1 * h - 0.2)
        c = f * c + i * g
        if t == 2:
            c *= 0.5
        h = o * math.tanh(c)
        expected_h.append(h)
        expected_c.append(c)
    assert trace["layer0.forward.forget_gate"][0, 1, 0].item() == 0.25
    np.testing.assert_allclose(trace["layer0.forward.cell"][0, :, 0].numpy(), expected_c, atol=1e-6)
    np.testing.assert_allclose(output[0, :, 0].numpy(), expected_h, atol=1e-6)
    assert h_n.item() == pytest.approx(expected_h[-1], abs=1e-6) and c_n.item() == pytest.approx(
        expected_c[-1], abs=1e-6
    )


def test_one_unit_gru_edit_matches_a_hand_computation():
    module = nn.GRU(1, 1, batch_first=True).eval()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor([[1.0], [-0.5], [0.8]]))  # r, z, n rows
        module.weight_hh_l0.copy_(torch.tensor([[0.4], [0.3], [-0.6]]))
        module.bias_ih_l0.copy_(torch.tensor([0.0, 0.2, 0.1]))
        module.bias_hh_l0.copy_(torch.tensor([0.1, 0.0, 0.3]))
    xs = [0.7, -1.2, 2.0]
    edits = [
        Edit("layer0.forward.reset_gate", steps=[1, 2], value=0.0),
        Edit("layer0.forward.hidden", steps=0, value=0.9),
    ]
    trace, output, h_n = edited(module, torch.tensor([[[x] for x in xs]]), None, edits)

    def sigma(v):
        return 1 / (1 + math.exp(-v))

    h, expected = 0.0, []
    for t, x in enumerate(xs):
        r = 0.0 if t >= 1 else sigma(1.0 * x + 0.4 * h + 0.1)
        z = sigma(-0.5 * x + 0.2 + 0.3 * h)
        n = math.tanh(0.8 * x + 0.1 + r * (-0.6 * h + 0.3))
        h = 0.9 if t == 0 else (1 - z) * n + z * h
        expected.append(h)
    np.testing.assert_allclose(output[0, :, 0].numpy(), expected, atol=1e-6)
    assert h_n.item() == pytest.approx(expected[-1], abs=1e-6)


def test_later_layers_and_heads_feel_an_edit_and_earlier_steps_do_not():
    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(5, 7, num_layers=2, batch_first=True)
            self.head = nn.Linear(7, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    torch.manual_seed(0)
    model = Classifier().eval()
    x = torch.randn(1, 6, 5)
    with torch.no_grad():
        with rnnviz.capture(model) as plain:
            before = model(x)
        with rnnviz.capture(
            model, edits=[Edit("rnn.layer0.forward.hidden", units=[2, 4], steps=3, value=0.0)]
        ) as trace:
            after = model(x)
        expected = model.head(trace["rnn.layer1.forward.hidden"][:, -1])
    assert torch.equal(trace["rnn.layer0.forward.hidden"][0, 3, [2, 4]], torch.zeros(2))
    assert_close(
        trace["rnn.layer1.forward.hidden"][:, :3],
        plain["rnn.layer1.forward.hidden"][:, :3],
        "before step 3",
    )
    assert (
        trace["rnn.layer1.forward.hidden"][:, 3:] - plain["rnn.layer1.forward.hidden"][:, 3:]
    ).abs().max() > 1e-3
    assert_close(after, expected, "the head reads the edited last layer")
    assert (after - before).abs().max() > 1e-4


def test_backward_direction_steps_are_token_positions():
    config = Config(cell="gru", bidirectional=True)
    module = config.build()
    seqs = sequences(config, [6])
    edits = [Edit("layer0.backward.hidden", units=[0], steps=slice(4, None), value=0.5)]
    trace, output, final = edited(module, torch.stack(seqs), None, edits)
    assert torch.equal(trace["layer0.backward.hidden"][0, 4:, 0], torch.full((2,), 0.5))
    assert trace["layer0.backward.hidden"][0, :4, 0].ne(0.5).all()
    check_edited_against_reference(module, config, seqs, None, edits, trace, output, final)


@pytest.mark.parametrize("cell", CELLS)
def test_packed_sequences_take_negative_steps_from_each_sequence_end(cell):
    config = Config(cell=cell, num_layers=2, bidirectional=True)
    module = config.build()
    lengths = [3, 7, 1, 5]
    seqs = sequences(config, lengths)
    hx = initial_states(config, len(seqs))
    quantity = QUANTITIES_BY_CELL_KIND[cell][0]
    edits = [
        Edit(f"layer0.forward.{quantity}", units=[1, 3], steps=-1, value=0.3),
        Edit(f"layer1.backward.{quantity}", steps=slice(0, 2), scale=-0.5),
    ]
    trace, output, final = edited(module, pack_sequence(seqs, enforce_sorted=False), hx, edits)
    assert isinstance(output, torch.nn.utils.rnn.PackedSequence)
    for b, n in enumerate(lengths):
        assert torch.equal(
            trace[f"layer0.forward.{quantity}"][b, n - 1, [1, 3]], torch.full((2,), 0.3)
        )
    check_edited_against_reference(module, config, seqs, hx, edits, trace, output, final)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_with_projection_edits_projected_and_unprojected_hidden(bidirectional):
    config = Config(cell="lstm", num_layers=2, proj_size=3, bidirectional=bidirectional)
    module = config.build()
    seqs = sequences(config, [5, 5])
    hx = initial_states(config, 2)
    edits = [
        Edit("layer0.forward.unprojected_hidden", units=[6], steps=1, value=0.0),
        Edit("layer1.forward.hidden", units=[2], scale=2.0),
    ]
    trace, output, final = edited(module, torch.stack(seqs), hx, edits)
    check_edited_against_reference(module, config, seqs, hx, edits, trace, output, final)
    with pytest.raises(RnnvizError, match=r"units \[3\] outside 0..2"):
        edited(module, torch.stack(seqs), hx, [Edit("layer0.forward.hidden", units=[3], value=0.0)])


def test_unbatched_input_and_float64_modules_run_edited():
    config = Config(cell="lstm", num_layers=2, bidirectional=True)
    module = config.build().double()
    (seq,) = sequences(config, [5])
    edits = [Edit("layer1.backward.forget_gate", units=[0, 1], steps=[0, 2], value=0.9)]
    trace, output, (h_n, c_n) = edited(module, seq.double(), None, edits)
    assert output.shape == (5, 14) and output.dtype == torch.float64 and h_n.shape == (4, 7)
    check_edited_against_reference(
        module,
        config,
        [seq],
        None,
        edits,
        trace,
        output.unsqueeze(0),
        (h_n.unsqueeze(1), c_n.unsqueeze(1)),
    )


def test_edits_reach_only_the_call_they_name():
    config = Config(cell="rnn_tanh")
    module = config.build()
    x = torch.stack(sequences(config, [4]))
    with torch.no_grad():
        expected, _ = module(x)
        with rnnviz.capture(
            module, edits=[Edit("[1].layer0.forward.hidden", steps=0, value=0.0)]
        ) as trace:
            first, _ = module(x)
            second, _ = module(x)
    assert_close(first, expected, "the first call is not edited")
    assert torch.equal(second[0, 0], torch.zeros(7))
    assert torch.equal(trace["[1].layer0.forward.hidden"], second)


def test_training_mode_dropout_between_edited_layers_follows_the_module():
    config = Config(cell="lstm", num_layers=2, dropout=0.5)
    module = config.build().train()
    batch = torch.stack(sequences(config, [6, 6]))
    with rnnviz.capture(module, edits=[Edit("layer0.forward.cell", scale=1.0)]) as trace:
        output, (h_n, c_n) = module(batch)
    assert_close(trace["layer1.forward.hidden"], output, "output")
    assert_close(trace["layer0.forward.cell"][:, -1], c_n[0], "edited layer c_n")
    # Eval mode: no dropout, the module's own result.
    module.eval()
    with torch.no_grad():
        expected, _ = module(batch)
    _, output, _ = edited(module, batch, None, [Edit("layer0.forward.cell", scale=1.0)])
    assert_close(output, expected, "eval output")


def test_edited_runs_are_differentiable():
    config = Config(cell="gru", num_layers=2)
    module = config.build()
    x = torch.stack(sequences(config, [5]))
    reference_grads = torch.autograd.grad(module(x)[0].sum(), module.weight_hh_l0)[0]
    with rnnviz.capture(
        module, edits=[Edit("layer0.forward.new_gate", scale=1.0)], detach=False
    ) as trace:
        output, _ = module(x)
    grads = torch.autograd.grad(output.sum(), module.weight_hh_l0)[0]
    assert_close(grads, reference_grads, "∂ output / ∂ W_hh")
    assert trace["layer0.forward.new_gate"].requires_grad


def test_capture_without_edits_leaves_the_module_to_pytorch():
    config = Config(cell="lstm", num_layers=2)
    module = config.build()
    batch = torch.stack(sequences(config, [5]))
    with torch.no_grad():
        expected, _ = module(batch)
        with rnnviz.capture(module, edits=[]):
            output, _ = module(batch)
    assert torch.equal(output, expected)  # bit for bit: PyTorch's own kernels ran


def test_bad_edits_get_clear_errors_listing_valid_names():
    config = Config(cell="gru", num_layers=2)
    module = config.build()
    x = torch.stack(sequences(config, [4]))
    with pytest.raises(
        RnnvizError,
        match=r"did you mean layer0.forward.update_gate.*Valid names: layer0.forward.reset_gate",
    ):
        with rnnviz.capture(module, edits=[Edit("layer0.forward.updategate", value=1.0)]):
            pass
    with pytest.raises(RnnvizError, match="forget_gate.*Valid names"):
        # A GRU has no forget gate.
        with rnnviz.capture(module, edits=[Edit("layer0.forward.forget_gate", value=1.0)]):
            pass
    with pytest.raises(RnnvizError, match="layer2.forward.hidden"):
        with rnnviz.capture(module, edits=[Edit("layer2.forward.hidden", value=1.0)]):
            pass
    with pytest.raises(RnnvizError, match="layer0.backward.hidden"):
        # The module is unidirectional.
        with rnnviz.capture(module, edits=[Edit("layer0.backward.hidden", value=1.0)]):
            pass
    with pytest.raises(RnnvizError, match=r"units \[7, 9\] outside 0..6 \(7 units\)"):
        with rnnviz.capture(
            module, edits=[Edit("layer0.forward.hidden", units=[1, 7, 9], value=1.0)]
        ):
            pass
    with pytest.raises(RnnvizError, match=r"steps \[4\] outside the sequence \(positions 0..3\)"):
        with (
            torch.no_grad(),
            rnnviz.capture(module, edits=[Edit("layer0.forward.hidden", steps=[0, 4], value=1.0)]),
        ):
            module(x)
    with pytest.raises(RnnvizError, match=r"batch \[1\] outside 0..0"):
        with (
            torch.no_grad(),
            rnnviz.capture(module, edits=[Edit("layer0.forward.hidden", batch=1, value=1.0)]),
        ):
            module(x)
    with pytest.raises(RnnvizError, match=r"never applied: module 'the model' was called 1 time"):
        with (
            torch.no_grad(),
            rnnviz.capture(module, edits=[Edit("[1].layer0.forward.hidden", value=1.0)]),
        ):
            module(x)
    with pytest.raises(RnnvizError, match="exactly one of value"):
        Edit("layer0.forward.hidden")
    with pytest.raises(RnnvizError, match="exactly one of value"):
        Edit("layer0.forward.hidden", value=1.0, scale=2.0)
    with pytest.raises(RnnvizError, match="units must be integers"):
        Edit("layer0.forward.hidden", units=["a"], value=1.0)
    assert "forward" not in module.__dict__  # the refused blocks left the module as it was


def test_names_inside_a_larger_model_carry_the_module_path():
    model = nn.Sequential(nn.LSTM(3, 4, batch_first=True)).eval()
    with pytest.raises(RnnvizError, match=r"Valid names: 0.layer0.forward.input_gate"):
        with rnnviz.capture(model, edits=[Edit("layer0.forward.cell", value=0.0)]):
            pass
    with (
        torch.no_grad(),
        rnnviz.capture(model, edits=[Edit("0.layer0.forward.cell", value=0.0)]) as trace,
    ):
        model(torch.randn(1, 3, 3))
    assert torch.equal(trace["0.layer0.forward.cell"], torch.zeros(1, 3, 4))


# Strategies for the property test: any quantity of any layer and direction, some units, some steps.
def edit_strategy(config: Config, max_length: int):
    names = [
        f"layer{k}.{d}.{q}"
        for k in range(config.num_layers)
        for d in ("forward", "backward")[: config.directions]
        for q in QUANTITIES_BY_CELL_KIND[config.cell]
    ]
    steps = st.one_of(
        st.none(),
        st.integers(-max_length, max_length - 1),
        st.builds(
            slice, st.integers(-max_length, max_length), st.none() | st.integers(0, max_length)
        ),
        st.lists(st.integers(0, max_length - 1), min_size=1, max_size=3).map(tuple),
    )
    units = st.none() | st.lists(
        st.integers(0, config.hidden_size - 1), min_size=1, max_size=3
    ).map(tuple)
    numbers = st.floats(-2.0, 2.0, allow_nan=False).map(lambda v: round(v, 3))
    return st.builds(
        lambda name, units, steps, number, set_value: Edit(
            name, units, steps, number if set_value else None, None if set_value else number
        ),
        st.sampled_from(names),
        units,
        steps,
        numbers,
        st.booleans(),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cell=st.sampled_from(CELLS),
    hidden_size=st.integers(1, 5),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    packed=st.booleans(),
    with_initial_state=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_property_random_edits_match_the_reference_loop(
    cell,
    hidden_size,
    num_layers,
    bidirectional,
    batch_first,
    lengths,
    packed,
    with_initial_state,
    seed,
    data,
):
    config = Config(cell, 3, hidden_size, num_layers, bidirectional, batch_first)
    module = config.build(seed)
    if not packed:
        lengths = [max(lengths)] * len(lengths)
    edits = data.draw(st.lists(edit_strategy(config, max(lengths)), min_size=1, max_size=3))
    seqs = sequences(config, lengths, seed=seed + 1)
    hx = initial_states(config, len(seqs), seed=seed + 2) if with_initial_state else None
    inputs = (
        pack_sequence(seqs, enforce_sorted=False)
        if packed
        else torch.stack(seqs, dim=0 if batch_first else 1)
    )
    trace, output, final = edited(module, inputs, hx, edits)
    check_edited_against_reference(module, config, seqs, hx, edits, trace, output, final)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cell=st.sampled_from(CELLS),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    batch=st.integers(1, 3),
    length=st.integers(1, 7),
    with_initial_state=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_edits_recording_nothing_run_pytorchs_kernel_around_them_and_match_the_reference_loop(
    cell, num_layers, bidirectional, batch_first, batch, length, with_initial_state, seed, data
):
    """With nothing recorded (as a ranking's hundreds of edited rows run), the steps an edit does not
    reach run through PyTorch's own kernel: the output and h_n / c_n are still the reference's."""
    config = Config(cell, 3, 4, num_layers, bidirectional, batch_first)
    module = config.build(seed)
    edits = data.draw(st.lists(edit_strategy(config, length), min_size=1, max_size=3))
    seqs = sequences(config, [length] * batch, seed=seed + 1)
    hx = initial_states(config, batch, seed=seed + 2) if with_initial_state else None
    inputs = torch.stack(seqs, dim=0 if batch_first else 1)
    with torch.no_grad(), rnnviz.capture(module, edits=edits, only=()):
        output, final = module(inputs, hx)
    check_edited_against_reference(module, config, seqs, hx, edits, None, output, final)


# ---------------------------------------------------------------------------------------------
# A bundled model: what an edit does to the prediction, and which units matter at "not".

NEGATED, PLAIN = "the movie was not good", "the movie was good"


@pytest.fixture(scope="module")
def sst2_lstm():
    return rnnviz.load("sst2-lstm")


@pytest.fixture(scope="module")
def negated_run(sst2_lstm):
    from rnnviz.analysis.inspection import inspect_text

    return inspect_text(sst2_lstm, NEGATED)


def test_holding_the_units_that_react_most_to_not_moves_the_prediction_more_than_random_units(
    sst2_lstm, negated_run
):
    from rnnviz.analysis.interventions import edit_effect, held_at_previous, rank_units_by_change

    run = negated_run
    step = run.tokens.index("not")
    assert run.prediction_labels[int(run.predictions[-1].argmax())] == "negative"
    reacting = rank_units_by_change(run, "rnn.layer0.forward.cell", step)

    def held(units):  # c and h of these units as they were before "not"
        return [
            edit
            for quantity in ("cell", "hidden")
            for edit in held_at_previous(run, f"rnn.layer0.forward.{quantity}", units, step)
        ]

    top = [u for u, _ in reacting.top(64)]
    effect = edit_effect(sst2_lstm, run, held(top))
    moved_toward_positive = effect.final_change[run.prediction_labels.index("positive")]
    generator = np.random.default_rng(0)
    random_moves = [
        edit_effect(sst2_lstm, run, held(generator.permutation(256)[:64])).final_change[1]
        for _ in range(5)
    ]
    assert moved_toward_positive > 0.15
    assert moved_toward_positive > max(random_moves)
    # The held units really kept their values through "not", in c and h.
    for quantity in ("cell", "hidden"):
        name = f"rnn.layer0.forward.{quantity}"
        np.testing.assert_allclose(
            effect.edited[name][0, step, top].numpy(),
            run.trace[name][0, step - 1, top].numpy(),
            atol=1e-6,
        )


def test_ablating_the_units_ranked_by_ablation_flips_the_negated_sentence(sst2_lstm, negated_run):
    from rnnviz.analysis.interventions import edit_effect, rank_units_by_ablation

    run = negated_run
    step = run.tokens.index("not")
    name = "rnn.layer0.forward.cell"
    ranking = rank_units_by_ablation(sst2_lstm, run, name, step, until_end=True)
    assert ranking.scores.shape == (256,) and "negative" in ranking.measure
    # The batched ranking agrees with one rerun per unit.
    for unit in (int(ranking.order[0]), int(ranking.order[100]), 7):
        alone = edit_effect(
            sst2_lstm, run, [Edit(name, units=unit, steps=slice(step, None), value=0.0)]
        )
        assert ranking.scores[unit] == pytest.approx(alone.final_change[0], abs=1e-5)
    top = [u for u, _ in ranking.top(40)]
    least = [int(u) for u in ranking.order[-40:]]
    flipped = edit_effect(
        sst2_lstm, run, [Edit(name, units=top, steps=slice(step, None), value=0.0)]
    )
    control = edit_effect(
        sst2_lstm, run, [Edit(name, units=least, steps=slice(step, None), value=0.0)]
    )
    assert (flipped.label_before, flipped.label_after) == ("negative", "positive")
    assert abs(control.final_change[0]) < abs(flipped.final_change[0]) / 5
    # The prediction is untouched before the edit reaches "not", and differs from there on.
    np.testing.assert_allclose(flipped.after[:step], flipped.before[:step], atol=1e-5)
    assert np.abs(flipped.after[step:] - flipped.before[step:]).max() > 0.1


def test_edit_effect_reports_predictions_and_differences_of_every_quantity(sst2_lstm, negated_run):
    from rnnviz.analysis.interventions import edit_effect

    run = negated_run
    unchanged = edit_effect(sst2_lstm, run, [Edit("rnn.layer0.forward.forget_gate", scale=1.0)])
    np.testing.assert_allclose(unchanged.after, run.predictions, atol=1e-5)
    assert set(unchanged.differences) == set(run.trace.names())
    assert max(np.abs(d).max() for d in unchanged.differences.values()) < 1e-5
    effect = edit_effect(
        sst2_lstm, run, [Edit("rnn.layer0.forward.forget_gate", units=[5], steps=-2, value=0.0)]
    )
    assert effect.edits[0].steps == (3,)  # written as token positions of the text
    difference = effect.differences["rnn.layer0.forward.forget_gate"]
    assert difference.shape == (5, 256)
    assert difference[3, 5] == pytest.approx(
        -float(run.trace["rnn.layer0.forward.forget_gate"][0, 3, 5]), abs=1e-6
    )
    # Before the edit only rounding differs (step-by-step loop vs PyTorch's kernel).
    assert np.abs(effect.differences["rnn.layer0.forward.cell"][:3]).max() < 1e-5
    assert np.abs(effect.differences["rnn.layer0.forward.cell"][3:, 5]).max() > 0


def test_edit_effect_of_a_bidirectional_classifier_edits_every_prefix_at_the_same_tokens():
    from rnnviz.analysis.inspection import inspect_text
    from rnnviz.analysis.interventions import edit_effect

    loaded = rnnviz.load("sst2-bilstm")
    run = inspect_text(loaded, NEGATED)
    edits = [
        Edit("rnn.layer1.backward.hidden", units=list(range(0, 128, 2)), steps=[1, 3], value=0.0)
    ]
    effect = edit_effect(loaded, run, edits)
    ids = torch.tensor([run.encoding.ids])
    # The prediction after token t: the edited model on the prefix alone.
    for t in range(len(run.tokens)):
        kept = [Edit(e.name, e.units, tuple(p for p in e.steps if p <= t), e.value) for e in edits]
        kept = [e for e in kept if e.steps]
        with torch.no_grad(), rnnviz.capture(loaded.module, edits=kept):
            expected = torch.softmax(loaded.module(ids[:, : t + 1]), dim=-1)[0].numpy()
        np.testing.assert_allclose(effect.after[t], expected, atol=1e-5)
    assert np.abs(effect.after - effect.before).max() > 1e-3


def test_edit_effect_of_the_language_model_is_its_edited_next_character_distribution():
    from rnnviz.analysis.inspection import inspect_text
    from rnnviz.analysis.interventions import edit_effect

    loaded = rnnviz.load("shakespeare-char-lstm")
    run = inspect_text(loaded, "To be, or not")
    effect = edit_effect(
        loaded, run, [Edit("rnn.layer1.forward.cell", steps=slice(5, None), scale=0.0)]
    )
    np.testing.assert_allclose(effect.before, run.predictions)
    assert effect.after.shape == run.predictions.shape
    np.testing.assert_allclose(effect.after.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(effect.after[:5], effect.before[:5], atol=1e-5)
    assert np.abs(effect.after[5:] - effect.before[5:]).max() > 0.01


def test_rank_units_by_change_is_the_step_difference_in_reading_order(negated_run):
    from rnnviz.analysis.interventions import rank_units_by_change

    run = negated_run
    cell = run.trace["rnn.layer0.forward.cell"][0].numpy()
    ranking = rank_units_by_change(run, "rnn.layer0.forward.cell", 3)
    np.testing.assert_allclose(ranking.scores, cell[3] - cell[2], atol=1e-6)
    assert np.all(np.diff(np.abs(ranking.scores[ranking.order])) <= 0)
    first = rank_units_by_change(run, "rnn.layer0.forward.cell", 0)
    np.testing.assert_allclose(first.scores, cell[0], atol=1e-6)  # from the zero initial state
    with pytest.raises(RnnvizError, match="no quantity named"):
        rank_units_by_change(run, "rnn.layer0.forward.forgetgate", 0)
    with pytest.raises(RnnvizError, match="outside the text"):
        rank_units_by_change(run, "rnn.layer0.forward.cell", 5)


def test_rank_units_by_change_runs_backward_from_the_next_token():
    from rnnviz.analysis.inspection import inspect_text
    from rnnviz.analysis.interventions import held_at_previous, rank_units_by_change

    run = inspect_text(rnnviz.load("sst2-bilstm"), NEGATED)
    hidden = run.trace["rnn.layer0.backward.hidden"][0].numpy()
    np.testing.assert_allclose(
        rank_units_by_change(run, "rnn.layer0.backward.hidden", 2).scores,
        hidden[2] - hidden[3],
        atol=1e-6,
    )
    np.testing.assert_allclose(
        rank_units_by_change(run, "rnn.layer0.backward.hidden", 4).scores, hidden[4], atol=1e-6
    )
    held = held_at_previous(run, "rnn.layer0.backward.hidden", [9], 2)
    assert held == [Edit("rnn.layer0.backward.hidden", units=9, steps=2, value=float(hidden[3, 9]))]


def test_ablation_ranking_of_the_language_model_reads_the_prediction_after_a_chosen_token():
    from rnnviz.analysis.inspection import inspect_text
    from rnnviz.analysis.interventions import edit_effect, rank_units_by_ablation

    loaded = rnnviz.load("shakespeare-char-lstm")
    run = inspect_text(loaded, "To be, or not to be")
    name, step, at = "rnn.layer0.forward.hidden", 9, 11
    ranking = rank_units_by_ablation(loaded, run, name, step, at=at)
    chosen = int(run.predictions[at].argmax())
    assert f"p({run.prediction_labels[chosen]!r}) after token {at}" in ranking.measure
    for unit in (int(ranking.order[0]), 3):
        alone = edit_effect(loaded, run, [Edit(name, units=unit, steps=step, value=0.0)])
        assert ranking.scores[unit] == pytest.approx(
            alone.after[at, chosen] - alone.before[at, chosen], abs=1e-5
        )
    assert abs(ranking.scores[ranking.order[0]]) > 1e-3
    with pytest.raises(RnnvizError, match="comes before the edited token"):
        rank_units_by_ablation(loaded, run, name, step, at=step - 1)
    sst2 = rnnviz.load("sst2-gru")
    with pytest.raises(RnnvizError, match="at= applies to language models"):
        rank_units_by_ablation(
            sst2, inspect_text(sst2, "good"), "rnn.layer0.forward.hidden", 0, at=0
        )
