"""rnnviz.core.capture records exact per-timestep states and gates of nn.RNN / nn.LSTM / nn.GRU.

Every check compares against an independent reference: PyTorch's own outputs (output,
h_n, c_n) or the step-by-step equations in tests/reference.py.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import reference_states
from torch import nn
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

import rnnviz

TOLERANCE = 1e-5


@dataclass(frozen=True)
class Config:
    cell: str = "lstm"  # lstm, gru, rnn_tanh, rnn_relu
    input_size: int = 5
    hidden_size: int = 7
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = True
    proj_size: int = 0
    dropout: float = 0.0
    bias: bool = True

    def build(self, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        common = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            batch_first=self.batch_first,
            dropout=self.dropout,
            bias=self.bias,
        )
        if self.cell == "lstm":
            module = nn.LSTM(proj_size=self.proj_size, **common)
        elif self.cell == "gru":
            module = nn.GRU(**common)
        else:
            module = nn.RNN(nonlinearity=self.cell.removeprefix("rnn_"), **common)
        # Larger weights than the default init, so that gates reach saturation and any
        # mix-up of gates or directions shows up as a large difference (not for ReLU,
        # whose unbounded states would only explode float32 rounding).
        if self.cell == "rnn_relu":
            return module.eval()
        with torch.no_grad():
            for p in module.parameters():
                p.mul_(3.0)
        return module.eval()

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_size(self) -> int:
        return self.proj_size or self.hidden_size


def initial_states(config: Config, batch: int, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    rows = config.num_layers * config.directions
    h0 = torch.randn(rows, batch, config.out_size, generator=generator)
    c0 = torch.randn(rows, batch, config.hidden_size, generator=generator)
    return (h0, c0) if config.cell == "lstm" else h0


def sequences(config: Config, lengths: list[int], seed: int = 2) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, config.input_size, generator=generator) for n in lengths]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """|actual − expected| ≤ 1e-5, relative to the value where it exceeds 1 (unbounded c, ReLU h)."""
    expected = expected.double()
    difference = ((actual.double() - expected).abs() / expected.abs().clamp(min=1.0)).max().item()
    assert difference <= TOLERANCE, f"{what}: max difference {difference:.2e} > {TOLERANCE}"


def captured(module: nn.Module, seqs, hx=None) -> rnnviz.Trace:
    """The trace of one forward pass of equal-length `seqs`, stacked batch-first, inside capture."""
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(torch.stack(seqs), hx)
    return trace


def check_against_reference(
    module: nn.Module, trace: rnnviz.Trace, seqs, hx, prefix: str = ""
) -> None:
    """Every recorded quantity equals the step-by-step reference, sequence by sequence."""
    head = f"{prefix}." if prefix else ""
    expected_names = set()
    for b, seq in enumerate(seqs):
        h0 = c0 = None
        if hx is not None:
            h0, c0 = (hx[0][:, b], hx[1][:, b]) if isinstance(hx, tuple) else (hx[:, b], None)
        reference = reference_states(module, seq, h0, c0)
        expected_names |= {head + name for name in reference}
        for name, expected in reference.items():
            recorded = trace[head + name][b]
            length = seq.shape[0]
            assert_close(recorded[:length], expected, f"{name} of sequence {b}")
            assert torch.isnan(recorded[length:]).all(), (
                f"{name}: padding past length {length} must be NaN"
            )
    assert expected_names == set(trace.names())


CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_every_quantity_matches_reference_and_pytorch_outputs(
    cell, num_layers, bidirectional, batch_first
):
    config = Config(
        cell=cell, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    module = config.build()
    seqs = sequences(config, [6, 6, 6])
    batch = torch.stack(seqs, dim=0 if batch_first else 1)
    hx = initial_states(config, 3)
    with torch.no_grad():
        expected_output, expected_final = module(batch, hx)
        with rnnviz.capture(module) as trace:
            output, final = module(batch, hx)
    # The model's own result is unchanged by capturing.
    assert_close(output, expected_output, "model output")
    check_against_reference(module, trace, seqs, hx)
    # h (and c) agree with PyTorch's own output, h_n and c_n for every layer and direction.
    last = config.num_layers - 1
    recorded_output = torch.cat(
        [trace[f"layer{last}.{d}.hidden"] for d in ("forward", "backward")[: config.directions]], -1
    )
    assert_close(
        recorded_output,
        expected_output if batch_first else expected_output.transpose(0, 1),
        "output",
    )
    h_n, c_n = expected_final if cell == "lstm" else (expected_final, None)
    for layer in range(num_layers):
        row = layer * config.directions
        assert_close(trace[f"layer{layer}.forward.hidden"][:, -1], h_n[row], f"h_n layer {layer}")
        if bidirectional:
            assert_close(
                trace[f"layer{layer}.backward.hidden"][:, 0],
                h_n[row + 1],
                f"h_n layer {layer} backward",
            )
        if c_n is not None:
            assert_close(trace[f"layer{layer}.forward.cell"][:, -1], c_n[row], f"c_n layer {layer}")
            if bidirectional:
                assert_close(
                    trace[f"layer{layer}.backward.cell"][:, 0],
                    c_n[row + 1],
                    f"c_n layer {layer} backward",
                )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("onednn", [True, False], ids=["oneDNN products", "portable F.linear"])
def test_gates_are_exact_through_either_matrix_product_path(cell, onednn, monkeypatch):
    """On CPU float32 the rebuild uses oneDNN when this build passes its self-check; every other
    build takes the F.linear path. Both must give the reference gates."""
    capture_module = importlib.import_module(
        "rnnviz.core.capture"
    )  # the module, not rnnviz.core.capture the function
    if onednn and not capture_module._onednn_linear_works():
        pytest.skip("this torch build has no usable oneDNN linear")
    monkeypatch.setattr(capture_module, "_ONEDNN_LINEAR", onednn)
    config = Config(cell=cell, num_layers=2, bidirectional=True, batch_first=True)
    module = config.build()
    seqs = sequences(config, [7, 7])
    hx = initial_states(config, 2)
    check_against_reference(module, captured(module, seqs, hx), seqs, hx)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_follow_weights_changed_in_place_between_captures(cell):
    """The rebuild reuses its joined weight matrices between captures; an optimiser step that
    changes the parameters in place must be seen by the next capture."""
    config = Config(cell=cell, num_layers=2, bidirectional=True, batch_first=True)
    module = config.build()
    seqs = sequences(config, [6, 6])
    for _ in range(2):
        check_against_reference(module, captured(module, seqs), seqs, None)
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.mul_(0.5).add_(0.01)


@pytest.mark.parametrize(
    "only, expected",
    [
        (
            "layer1.backward.*",
            {f"layer1.backward.{q}" for q in rnnviz.core.trace.QUANTITIES_BY_CELL_KIND["lstm"]},
        ),
        (
            ["*.hidden", "layer0.forward.forget_gate"],
            {f"layer{k}.{d}.hidden" for k in (0, 1) for d in ("forward", "backward")}
            | {"layer0.forward.forget_gate"},
        ),
        ("nothing.*", set()),
    ],
)
def test_only_records_the_names_matching_its_patterns_with_the_same_values(only, expected):
    config = Config(cell="lstm", num_layers=2, bidirectional=True, batch_first=True)
    module = config.build()
    batch = torch.stack(sequences(config, [5, 5]))
    with torch.no_grad():
        with rnnviz.capture(module) as everything:
            expected_output, _ = module(batch)
        with rnnviz.capture(module, only=only) as some:
            output, _ = module(batch)
    assert set(some.names()) == expected
    assert torch.equal(output, expected_output)  # the model itself runs as always
    for name in expected:
        assert torch.equal(some[name], everything[name])
    assert len(some.calls) == 1  # the call is still listed


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_variable_lengths_are_exact_and_nan_past_each_length(cell, bidirectional):
    config = Config(cell=cell, num_layers=2, bidirectional=bidirectional)
    module = config.build()
    lengths = [3, 7, 1, 5]  # unsorted on purpose: packing sorts, the trace must not
    seqs = sequences(config, lengths)
    hx = initial_states(config, len(seqs))
    packed = pack_sequence(seqs, enforce_sorted=False)
    with torch.no_grad():
        expected_output, expected_final = module(packed, hx)
        with rnnviz.capture(module) as trace:
            output, _ = module(packed, hx)
    assert torch.equal(output.data, expected_output.data)
    check_against_reference(module, trace, seqs, hx)
    assert trace.call().lengths == tuple(lengths)
    padded, _ = pad_packed_sequence(expected_output, batch_first=True)
    h_n = expected_final[0] if cell == "lstm" else expected_final
    for b, n in enumerate(lengths):
        assert_close(
            trace["layer1.forward.hidden"][b, :n],
            padded[b, :n, : config.hidden_size],
            f"output of {b}",
        )
        assert_close(trace["layer0.forward.hidden"][b, n - 1], h_n[0, b], f"h_n of sequence {b}")
        if bidirectional:
            assert_close(
                trace["layer0.backward.hidden"][b, 0], h_n[1, b], f"backward h_n of sequence {b}"
            )


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_with_projection_records_projected_and_unprojected_hidden(bidirectional):
    config = Config(cell="lstm", num_layers=2, proj_size=3, bidirectional=bidirectional)
    module = config.build()
    seqs = sequences(config, [4, 4])
    hx = initial_states(config, 2)
    trace = captured(module, seqs, hx)
    check_against_reference(module, trace, seqs, hx)
    assert trace["layer1.forward.hidden"].shape == (2, 4, 3)
    assert trace["layer1.forward.unprojected_hidden"].shape == (2, 4, 7)


@pytest.mark.parametrize("cell", CELLS)
def test_unbatched_input_gives_batch_of_one(cell):
    config = Config(cell=cell, num_layers=2, bidirectional=True)
    module = config.build()
    (seq,) = sequences(config, [5])
    with torch.no_grad():
        expected_output, _ = module(seq)
        with rnnviz.capture(module) as trace:
            output, final = module(seq)
    assert output.shape == expected_output.shape
    assert_close(output, expected_output, "unbatched output")
    assert trace["layer1.backward.hidden"].shape == (1, 5, 7)
    check_against_reference(module, trace, [seq], None)


def test_no_bias_and_eval_mode_dropout_are_exact():
    config = Config(cell="lstm", num_layers=3, dropout=0.5, bias=False)
    module = config.build()
    seqs = sequences(config, [6, 6])
    with torch.no_grad():
        expected, _ = module(torch.stack(seqs))
        with rnnviz.capture(module) as trace:
            module(torch.stack(seqs))
    check_against_reference(module, trace, seqs, None)
    assert_close(trace["layer2.forward.hidden"], expected, "output")


def test_training_mode_dropout_records_the_states_the_model_actually_used():
    config = Config(cell="lstm", num_layers=2, dropout=0.5)
    module = config.build().train()
    batch = torch.stack(sequences(config, [6, 6]))
    with rnnviz.capture(module) as trace:
        output, (h_n, c_n) = module(batch)
    # The dropout mask is random, but the trace and the returned result come from one run.
    assert_close(trace["layer1.forward.hidden"], output, "output")
    assert_close(trace["layer0.forward.cell"][:, -1], c_n[0], "layer-0 c_n")
    assert_close(trace["layer1.forward.cell"][:, -1], c_n[1], "layer-1 c_n")


def test_float64_model_is_recorded_in_float32_and_exact():
    config = Config(cell="gru", num_layers=2, bidirectional=True)
    module = config.build().double()
    seqs = sequences(config, [5, 5])
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(torch.stack(seqs).double())
    assert all(trace[name].dtype == torch.float32 for name in trace.names())
    check_against_reference(module, trace, seqs, None)


def test_bfloat16_model_is_rebuilt_in_float32_within_half_precision():
    config = Config(cell="lstm", num_layers=1)
    module = config.build().to(torch.bfloat16)
    seqs = sequences(config, [5])
    with torch.no_grad(), rnnviz.capture(module) as trace:
        output, _ = module(torch.stack(seqs).to(torch.bfloat16))
    assert trace["layer0.forward.forget_gate"].dtype == torch.float32
    reference = reference_states(module, seqs[0].to(torch.bfloat16))
    difference = (
        (trace["layer0.forward.forget_gate"][0].double() - reference["layer0.forward.forget_gate"])
        .abs()
        .max()
    )
    assert difference < 0.05  # h itself is bfloat16 (8 bits of mantissa)


def test_names_follow_module_paths_in_a_larger_model():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(10, 5)
            self.encoder = nn.ModuleDict(
                {"lstm": nn.LSTM(5, 4, batch_first=True), "gru": nn.GRU(4, 3, batch_first=True)}
            )
            self.head = nn.Linear(3, 2)

        def forward(self, ids):
            h, _ = self.encoder["lstm"](self.embedding(ids))
            h, _ = self.encoder["gru"](h)
            return self.head(h)

    model = Tagger().eval()
    with torch.no_grad(), rnnviz.capture(model) as trace:
        model(torch.tensor([[1, 2, 3]]))
    assert "encoder.lstm.layer0.forward.forget_gate" in trace.names()
    assert "encoder.gru.layer0.forward.update_gate" in trace.names()
    assert {c.path for c in trace.calls} == {"encoder.lstm", "encoder.gru"}
    assert trace.shapes()["encoder.gru.layer0.forward.hidden"] == (1, 3, 3)


def test_a_module_called_twice_records_both_calls():
    config = Config(cell="lstm")
    module = config.build()
    first, second = torch.stack(sequences(config, [4])), torch.stack(sequences(config, [6], seed=9))
    with torch.no_grad(), rnnviz.capture(module) as trace:
        out_first, _ = module(first)
        out_second, _ = module(second)
    assert_close(trace["layer0.forward.hidden"], out_first, "first call")
    assert_close(trace["[1].layer0.forward.hidden"], out_second, "second call")
    assert [c.call for c in trace.calls] == [0, 1]


def test_second_call_of_a_named_module_is_addressed_with_brackets():
    model = nn.Sequential(nn.LSTM(3, 4, batch_first=True)).eval()
    x = torch.randn(1, 2, 3)
    with torch.no_grad(), rnnviz.capture(model) as trace:
        model[0](x)
        model[0](x)
    assert "0.layer0.forward.hidden" in trace and "0[1].layer0.forward.hidden" in trace
    assert trace.call("0", 1).prefix == "0[1]"


def test_hooks_are_removed_after_the_block_and_after_an_exception():
    config = Config(cell="gru", num_layers=2)
    module = config.build()
    x = torch.stack(sequences(config, [4]))
    with torch.no_grad():
        before, _ = module(x)
        with rnnviz.capture(module):
            module(x)
        assert "forward" not in module.__dict__
        with pytest.raises(ZeroDivisionError):
            with rnnviz.capture(module):
                module(x)
                1 / 0  # noqa: B018 — an error inside the block
        assert "forward" not in module.__dict__
        after, _ = module(x)
    assert torch.equal(before, after)
    assert not module._forward_hooks and not module._forward_pre_hooks


def test_recorded_tensors_are_detached_by_default_and_differentiable_on_request():
    config = Config(cell="lstm", num_layers=2)
    module = config.build()
    x = torch.stack(sequences(config, [5]))
    with rnnviz.capture(module) as trace:
        module(x)
    assert not trace["layer0.forward.cell"].requires_grad
    with rnnviz.capture(module, detach=False) as trace:
        output, _ = module(x)
    forget = trace["layer1.forward.forget_gate"]
    forget.sum().backward()
    assert module.weight_ih_l1.grad is not None and module.weight_ih_l1.grad.abs().sum() > 0
    # The differentiable c agrees with the detached one.
    assert_close(trace["layer1.forward.hidden"], output, "output")


def test_trace_saves_and_loads_without_pickle(tmp_path):
    config = Config(cell="lstm", bidirectional=True)
    module = config.build()
    packed = pack_sequence(sequences(config, [2, 4]), enforce_sorted=False)
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(packed)
    path = tmp_path / "trace.npz"
    trace.save(path)
    loaded = rnnviz.Trace.load(path)
    assert loaded.names() == trace.names()
    assert loaded.calls == trace.calls
    for name in trace.names():
        np.testing.assert_array_equal(loaded[name].numpy(), trace[name].numpy())
    with np.load(path, allow_pickle=False) as archive:  # readable with pickle disabled
        assert set(archive.files) >= set(trace.names())


def test_unknown_name_suggests_close_matches():
    config = Config(cell="lstm")
    module = config.build()
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(torch.stack(sequences(config, [2])))
    with pytest.raises(KeyError, match="layer0.forward.forget_gate"):
        trace["layer0.forward.forgetgate"]


def test_numpy_view_matches_tensors():
    config = Config(cell="rnn_tanh")
    module = config.build()
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(torch.stack(sequences(config, [3])))
    arrays = trace.numpy()
    assert set(arrays) == set(trace.names())
    assert arrays["layer0.forward.hidden"].dtype == np.float32
    assert trace.call().cell_kind == "rnn_tanh"
    assert trace.call().quantities == ("hidden",)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cell=st.sampled_from(CELLS),
    input_size=st.integers(1, 6),
    hidden_size=st.integers(1, 6),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    packed=st.booleans(),
    with_initial_state=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_capture_matches_reference(
    cell,
    input_size,
    hidden_size,
    num_layers,
    bidirectional,
    batch_first,
    lengths,
    packed,
    with_initial_state,
    seed,
):
    config = Config(cell, input_size, hidden_size, num_layers, bidirectional, batch_first)
    module = config.build(seed)
    if not packed:
        lengths = [max(lengths)] * len(lengths)
    seqs = sequences(config, lengths, seed=seed + 1)
    hx = initial_states(config, len(seqs), seed=seed + 2) if with_initial_state else None
    if packed:
        inputs = pack_sequence(seqs, enforce_sorted=False)
    else:
        inputs = torch.stack(seqs, dim=0 if batch_first else 1)
    with torch.no_grad(), rnnviz.capture(module) as trace:
        module(inputs, hx)
    check_against_reference(module, trace, seqs, hx)
    assert all(not math.isinf(trace[n].nan_to_num(0).abs().max().item()) for n in trace.names())


def test_threads_capturing_one_shared_model_each_get_only_their_own_calls():
    """A server's sessions share one model: concurrent captures must not collide or mix."""
    import threading

    config = Config(cell="lstm", num_layers=2)
    module = config.build()
    inputs = [torch.stack(sequences(config, [3 + k], seed=k)) for k in range(6)]
    with torch.no_grad():
        expected = [module(x)[0] for x in inputs]
    start = threading.Barrier(len(inputs) + 1)
    results, errors = {}, []

    def session(k):
        try:
            start.wait()
            for _ in range(20):
                with torch.no_grad(), rnnviz.capture(module) as trace:
                    module(inputs[k])
                assert len(trace.calls) == 1
                results[k] = trace["layer1.forward.hidden"]
        except Exception as error:  # noqa: BLE001 — reported below
            errors.append(error)

    def plain_user():  # uses the model outside any capture block meanwhile
        start.wait()
        for _ in range(20):
            with torch.no_grad():
                if not torch.equal(module(inputs[0])[0], expected[0]):
                    errors.append(AssertionError("a call outside capture changed its result"))

    threads = [threading.Thread(target=session, args=(k,)) for k in range(len(inputs))]
    threads.append(threading.Thread(target=plain_user))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for k in range(len(inputs)):
        assert_close(results[k], expected[k], f"session {k}")
    assert "forward" not in module.__dict__


def test_nested_capture_of_the_same_module_in_one_thread_is_refused():
    config = Config(cell="gru")
    module = config.build()
    with rnnviz.capture(module):
        with pytest.raises(RuntimeError, match="already inside"):
            with rnnviz.capture(module):
                pass
    assert "forward" not in module.__dict__


LONG = 300  # longer than capture's anchoring chunk (128 steps): three chunks of 100


@pytest.mark.parametrize(
    "layout", ["batch_first", "time_first", "unbatched", "packed_one_length", "packed_lengths"]
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_long_lstm_sequences_are_exact_and_leave_the_output_bit_for_bit(layout, bidirectional):
    """Past 128 steps an LSTM layer runs in chunks with its own (h, c) carried, and the rebuilt
    c restarts from the module's c at each chunk end: the model's result must not change by a bit,
    every quantity must still match the reference, and c_n must be the module's own."""
    config = Config(
        cell="lstm", num_layers=2, bidirectional=bidirectional, batch_first=layout != "time_first"
    )
    module = config.build()
    lengths = {"unbatched": [LONG], "packed_lengths": [LONG, 90]}.get(layout, [LONG, LONG])
    seqs = sequences(config, lengths)
    hx = None if layout == "unbatched" else initial_states(config, len(seqs))
    if layout == "unbatched":
        inputs = seqs[0]
    elif layout.startswith("packed"):
        inputs = pack_sequence(seqs, enforce_sorted=False)
    else:
        inputs = torch.stack(seqs, dim=0 if config.batch_first else 1)
    with torch.no_grad():
        expected_output, (expected_h, expected_c) = module(inputs, hx)
        with rnnviz.capture(module) as trace:
            output, (h_n, c_n) = module(inputs, hx)
    if layout.startswith("packed"):
        output, expected_output = output.data, expected_output.data
    if layout == "packed_lengths":  # not anchored; layer by layer, as for short sequences
        assert_close(output, expected_output, "output")
    else:
        assert torch.equal(output, expected_output) and torch.equal(h_n, expected_h)
        assert torch.equal(c_n, expected_c)
    check_against_reference(module, trace, seqs, hx)
    if layout != "packed_lengths":  # one length: each direction's last c is the module's c_n
        c_n = c_n.reshape(config.num_layers * config.directions, len(seqs), -1)
        for layer in range(config.num_layers):
            for d, direction in enumerate(("forward", "backward")[: config.directions]):
                cells = trace[f"layer{layer}.{direction}.cell"]
                last = cells[:, -1] if d == 0 else cells[:, 0]
                assert torch.equal(last, c_n[layer * config.directions + d])


def test_long_lstm_with_projection_and_training_dropout_is_exact():
    config = Config(cell="lstm", num_layers=2, proj_size=3, dropout=0.5)
    module = config.build()
    seqs = sequences(config, [LONG, LONG])
    hx = initial_states(config, 2)
    check_against_reference(module, captured(module, seqs, hx), seqs, hx)
    module.train()
    with rnnviz.capture(module) as trace:
        output, (h_n, c_n) = module(torch.stack(seqs))
    assert_close(trace["layer1.forward.hidden"], output, "output")
    assert torch.equal(trace["layer0.forward.cell"][:, -1], c_n[0])
    assert torch.equal(trace["layer1.forward.cell"][:, -1], c_n[1])


def test_shorthand_keys_name_quantity_layer_direction_and_module():
    """trace["cell", 1, "backward"] is the tensor named layer1.backward.cell: checked against the
    reference's values and the literal full names; omitted parts default only where unambiguous."""
    config = Config(cell="lstm", num_layers=2, bidirectional=True)
    module = config.build()
    seqs = sequences(config, [6])
    trace = captured(module, seqs)
    reference = reference_states(module, seqs[0])
    assert_close(trace["cell", 1, "backward"][0], reference["layer1.backward.cell"], "shorthand")
    assert trace["cell", 1, "backward"] is trace.tensors["layer1.backward.cell"]
    assert trace["forget_gate", -1] is trace.tensors["layer1.forward.forget_gate"]  # forward
    assert trace["hidden", 0] is trace.tensors["layer0.forward.hidden"]
    assert trace["layer0.backward.hidden"] is trace.tensors["layer0.backward.hidden"]  # full names
    with pytest.raises(KeyError, match=r"which layer\? .* has 2 \(0\.\.1"):
        trace["cell"]  # two layers: no default
    with pytest.raises(KeyError, match="records input_gate, forget_gate"):
        trace["reset_gate", 0]
    with pytest.raises(KeyError, match="layer 2 outside 0..1"):
        trace["cell", 2]
    with pytest.raises(KeyError, match="direction 'sideways'"):
        trace["cell", 0, "sideways"]

    one_layer = Config(cell="gru").build()
    gru_trace = captured(one_layer, sequences(Config(cell="gru"), [4]))
    assert gru_trace["update_gate"] is gru_trace.tensors["layer0.forward.update_gate"]
    assert gru_trace["hidden"] is gru_trace.tensors["layer0.forward.hidden"]


def test_shorthand_asks_which_module_when_a_trace_holds_several():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.GRU(5, 4, batch_first=True)
            self.decoder = nn.LSTM(4, 3, batch_first=True)

        def forward(self, x):
            first, _ = self.encoder(x)
            second, _ = self.encoder(x)
            return self.decoder(first + second)

    model = Twice().eval()
    with torch.no_grad(), rnnviz.capture(model) as trace:
        model(torch.randn(1, 6, 5))
    with pytest.raises(KeyError, match=r"which module\? .*'encoder', 'encoder\[1\]', 'decoder'"):
        trace["hidden", 0]
    assert (
        trace["hidden", 0, "forward", "encoder[1]"]
        is trace.tensors["encoder[1].layer0.forward.hidden"]
    )
    assert trace["cell", 0, "forward", "decoder"] is trace.tensors["decoder.layer0.forward.cell"]
    with pytest.raises(KeyError, match="no recorded module 'head'"):
        trace["hidden", 0, "forward", "head"]
