"""Cells called in a Python loop (nn.RNNCell / nn.LSTMCell / nn.GRUCell) and hand-written cells with
rnnviz.HookPoint: every recorded quantity against an independent step-by-step computation
(tests/reference.py, float64, one sequence at a time), within 1e-5."""

from __future__ import annotations

import threading

import pytest
import torch
from reference import reference_cell_steps
from torch import nn

import rnnviz
from rnnviz.core.cell_loops import loop_exactness

TOLERANCE = 1e-5
LARGEST = {}  # the largest difference per test, printed at the end (pytest -s)


@pytest.fixture(scope="module", autouse=True)
def print_the_largest_differences():
    yield
    for what, difference in LARGEST.items():
        print(f"{what}: {difference:.1e}")


def _close(recorded: torch.Tensor, expected: torch.Tensor, what: str) -> float:
    difference = float((recorded.double() - expected.double()).abs().max())
    assert difference <= TOLERANCE, f"{what}: {difference}"
    return difference


def _compare(trace, prefix: str, layer: int, direction: str, expected: dict, batch_row: int):
    worst = 0.0
    for quantity, values in expected.items():
        name = f"{prefix + '.' if prefix else ''}layer{layer}.{direction}.{quantity}"
        worst = max(worst, _close(trace[name][batch_row], values, name))
    return worst


class CellLoop(nn.Module):
    """A student's loop over one nn.*Cell, from a given initial state, reading the head on the last h."""

    def __init__(self, cell: nn.Module, classes: int = 3):
        super().__init__()
        self.cell = cell
        self.fc = nn.Linear(cell.hidden_size, classes)

    def forward(self, x, state=None):  # x: [batch, time, features]
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
        h = state[0] if isinstance(state, tuple) else state
        return self.fc(h)


CELLS = {
    "lstm": lambda: nn.LSTMCell(5, 7),
    "gru": lambda: nn.GRUCell(5, 7),
    "rnn_tanh": lambda: nn.RNNCell(5, 7),
    "rnn_relu": lambda: nn.RNNCell(5, 7, nonlinearity="relu"),
    "lstm_no_bias": lambda: nn.LSTMCell(5, 7, bias=False),
}


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_a_batched_loop_over_each_cell_kind_records_every_quantity_as_the_reference_computes_it(
    kind,
):
    torch.manual_seed(0)
    model = CellLoop(CELLS[kind]()).eval()
    x = torch.randn(3, 6, 5)
    h0 = torch.randn(3, 7) * 0.5
    state = (h0, torch.randn(3, 7)) if kind.startswith("lstm") else h0
    with torch.no_grad(), rnnviz.capture(model) as trace:
        model(x, state)
    (record,) = trace.calls
    assert (record.path, record.cell_kind, record.num_layers, record.bidirectional) == (
        "cell",
        kind.replace("_no_bias", ""),
        1,
        False,
    )
    assert record.lengths == (6, 6, 6) and trace["cell.layer0.forward.hidden"].shape == (3, 6, 7)
    worst = 0.0
    for b in range(3):
        c0 = state[1][b] if isinstance(state, tuple) else None
        expected = reference_cell_steps(model.cell, x[b], h0[b], c0)
        assert set(expected) == set(record.quantities)
        worst = max(worst, _compare(trace, "cell", 0, "forward", expected, b))
    assert loop_exactness(trace, "cell") <= TOLERANCE
    LARGEST[f"{kind} cell loop"] = worst


def test_an_unbatched_loop_without_an_initial_state_is_a_batch_of_one():
    torch.manual_seed(1)
    cell = nn.GRUCell(4, 6)
    x = torch.randn(5, 4)
    with torch.no_grad(), rnnviz.capture(cell) as trace:
        h = None
        for t in range(5):
            h = cell(x[t], h)
    assert trace["layer0.forward.hidden"].shape == (1, 5, 6)
    LARGEST["unbatched GRU cell (root)"] = _compare(
        trace, "", 0, "forward", reference_cell_steps(cell, x), 0
    )


class BidirectionalStackedLSTM(nn.Module):
    """Two layers, each a forward and a backward nn.LSTMCell, declared with rnnviz.stack."""

    def __init__(self, features=4, hidden=5):
        super().__init__()
        self.forward0, self.backward0 = nn.LSTMCell(features, hidden), nn.LSTMCell(features, hidden)
        self.forward1 = nn.LSTMCell(2 * hidden, hidden)
        self.backward1 = nn.LSTMCell(2 * hidden, hidden)
        rnnviz.stack(self, [self.forward0, self.backward0], [self.forward1, self.backward1])

    @staticmethod
    def _run(cell, x, reverse):
        steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        outputs, state = [None] * x.shape[1], None
        for t in steps:
            state = cell(x[:, t], state)
            outputs[t] = state[0]
        return torch.stack(outputs, dim=1)

    def forward(self, x):
        for forward_cell, backward_cell in (
            (self.forward0, self.backward0),
            (self.forward1, self.backward1),
        ):
            x = torch.cat(
                [self._run(forward_cell, x, False), self._run(backward_cell, x, True)], -1
            )
        return x


def test_two_cells_in_opposite_directions_stacked_twice_are_one_bidirectional_two_layer_network():
    torch.manual_seed(2)
    model = BidirectionalStackedLSTM().eval()
    x = torch.randn(2, 6, 4)
    with torch.no_grad(), rnnviz.capture(model) as trace:
        output = model(x)
    (record,) = trace.calls
    assert (record.path, record.num_layers, record.bidirectional) == ("", 2, True)
    worst = 0.0
    for b in range(2):
        layer_input = x[b]
        for layer in range(2):
            cells = (getattr(model, f"forward{layer}"), getattr(model, f"backward{layer}"))
            forward = reference_cell_steps(cells[0], layer_input)
            # the backward cell reads from the end; the trace holds it in token order
            backward = {
                q: v.flip(0) for q, v in reference_cell_steps(cells[1], layer_input.flip(0)).items()
            }
            worst = max(worst, _compare(trace, "", layer, "forward", forward, b))
            worst = max(worst, _compare(trace, "", layer, "backward", backward, b))
            layer_input = torch.cat([forward["hidden"], backward["hidden"]], -1)
        _close(output[b], layer_input, "the model's own output")
    LARGEST["bidirectional 2-layer LSTM from cells"] = worst


class StackedGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.cells = nn.ModuleList([nn.GRUCell(3, 4), nn.GRUCell(4, 4)])
        rnnviz.stack(self, *self.cells)

    def forward(self, x):
        states = [None, None]
        for t in range(x.shape[1]):
            layer_input = x[:, t]
            for k, cell in enumerate(self.cells):
                states[k] = layer_input = cell(layer_input, states[k])
        return states[-1]


def test_stacked_cells_called_step_by_step_across_layers_and_a_second_pass_of_the_model():
    torch.manual_seed(3)
    model = nn.Sequential()
    model.add_module("encoder", StackedGRU())
    x1, x2 = torch.randn(2, 5, 3), torch.randn(2, 3, 3)
    with torch.no_grad(), rnnviz.capture(model) as trace:
        model(x1)
        model(x2)
    assert [(c.prefix, c.num_layers, c.lengths) for c in trace.calls] == [
        ("encoder", 2, (5, 5)),
        ("encoder[1]", 2, (3, 3)),
    ]
    worst = 0.0
    for prefix, x in (("encoder", x1), ("encoder[1]", x2)):
        for b in range(2):
            first = reference_cell_steps(model.encoder.cells[0], x[b])
            second = reference_cell_steps(model.encoder.cells[1], first["hidden"])
            worst = max(worst, _compare(trace, prefix, 0, "forward", first, b))
            worst = max(worst, _compare(trace, prefix, 1, "forward", second, b))
    LARGEST["stacked GRU cells, two passes"] = worst


class TwoUndeclaredCells(nn.Module):
    def __init__(self):
        super().__init__()
        self.left, self.right = nn.RNNCell(3, 4), nn.LSTMCell(3, 2)
        self.lstm = nn.LSTM(3, 2, batch_first=True)

    def forward(self, x):
        self.lstm(x)
        h, state = None, None
        for t in range(x.shape[1]):
            h = self.left(x[:, t], h)
            state = self.right(x[:, t], state)
        return h


def test_undeclared_cells_are_named_by_their_path_and_calls_keep_their_order():
    torch.manual_seed(4)
    model = TwoUndeclaredCells()
    with torch.no_grad(), rnnviz.capture(model, only="*.hidden") as trace:
        model(torch.randn(1, 4, 3))
    assert [c.path for c in trace.calls] == ["lstm", "left", "right"]
    assert sorted(trace.names()) == [
        "left.layer0.forward.hidden",
        "lstm.layer0.forward.hidden",
        "right.layer0.forward.hidden",
    ]


class HandWrittenLSTM(nn.Module):
    """The classic from-scratch LSTM: one nn.Linear on [x, h], sigmoid and tanh by hand."""

    def __init__(self, features, hidden):
        super().__init__()
        self.hidden_size = hidden
        self.gates = nn.Linear(features + hidden, 4 * hidden)
        self.input_gate, self.forget_gate = rnnviz.HookPoint(), rnnviz.HookPoint()
        self.cell_gate, self.output_gate = rnnviz.HookPoint(), rnnviz.HookPoint()
        self.cell, self.hidden = rnnviz.HookPoint(), rnnviz.HookPoint()

    def forward(self, x):  # [batch, time, features]
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        for t in range(x.shape[1]):
            i, f, g, o = self.gates(torch.cat([x[:, t], h], dim=1)).chunk(4, dim=1)
            i, f = self.input_gate(torch.sigmoid(i)), self.forget_gate(torch.sigmoid(f))
            g, o = self.cell_gate(torch.tanh(g)), self.output_gate(torch.sigmoid(o))
            c = self.cell(f * c + i * g)
            h = self.hidden(o * torch.tanh(c))
        return h


class HandWrittenGRUCell(nn.Module):
    """A from-scratch GRU cell (called once per token); the update gate in the textbook convention,
    recorded in PyTorch's (the share of the old state kept) with HookPoint(quantity=...)."""

    def __init__(self, features, hidden):
        super().__init__()
        self.reset_update = nn.Linear(features + hidden, 2 * hidden)
        self.candidate_x, self.candidate_h = nn.Linear(features, hidden), nn.Linear(hidden, hidden)
        self.reset_gate, self.keep = rnnviz.HookPoint(), rnnviz.HookPoint("update_gate")
        self.new_gate, self.hidden = rnnviz.HookPoint(), rnnviz.HookPoint()

    def forward(self, x, h):
        r, z = torch.sigmoid(self.reset_update(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        r = self.reset_gate(r)
        self.keep(1 - z)  # textbook h = z·n + (1 − z)·h: PyTorch's z is 1 − z
        n = self.new_gate(torch.tanh(self.candidate_x(x) + r * self.candidate_h(h)))
        return self.hidden(z * n + (1 - z) * h)


def _reference_hand_written_lstm(
    model: HandWrittenLSTM, x: torch.Tensor, edit=lambda name, t, value: value
) -> dict:
    w, b = model.gates.weight.detach().double(), model.gates.bias.detach().double()
    size = model.hidden_size
    h = c = torch.zeros(size, dtype=torch.float64)
    out = {}
    for t, x_t in enumerate(x.double()):

        def keep(key, value, t=t):
            value = edit(key, t, value)
            out.setdefault(key, []).append(value)
            return value

        pre = w @ torch.cat([x_t, h]) + b
        i = keep("input_gate", torch.sigmoid(pre[:size]))
        f = keep("forget_gate", torch.sigmoid(pre[size : 2 * size]))
        g = keep("cell_gate", torch.tanh(pre[2 * size : 3 * size]))
        o = keep("output_gate", torch.sigmoid(pre[3 * size :]))
        c = keep("cell", f * c + i * g)
        h = keep("hidden", o * torch.tanh(c))
    return {k: torch.stack(v) for k, v in out.items()}


def test_a_hand_written_lstm_declares_its_gates_with_hook_points_and_they_match_the_reference():
    torch.manual_seed(5)
    model = nn.Sequential()
    model.add_module("encoder", HandWrittenLSTM(3, 4))
    x = torch.randn(2, 7, 3)
    with torch.no_grad(), rnnviz.capture(model) as trace:
        model(x)
    (record,) = trace.calls
    assert (record.path, record.cell_kind, record.hidden_size) == ("encoder", "lstm", 4)
    worst = max(
        _compare(
            trace, "encoder", 0, "forward", _reference_hand_written_lstm(model.encoder, x[b]), b
        )
        for b in range(2)
    )
    assert loop_exactness(trace, "encoder") is None  # a hand-written cell is shown as it declares
    LARGEST["hand-written LSTM"] = worst


def test_a_hand_written_gru_cell_in_a_loop_matches_the_reference_in_pytorchs_convention():
    torch.manual_seed(6)
    cell = HandWrittenGRUCell(3, 4)
    x = torch.randn(2, 5, 3)
    with torch.no_grad(), rnnviz.capture(cell) as trace:
        h = torch.zeros(2, 4)
        for t in range(5):
            h = cell(x[:, t], h)
    assert trace.call().cell_kind == "gru"
    w, b = cell.reset_update.weight.detach().double(), cell.reset_update.bias.detach().double()
    wx, bx = cell.candidate_x.weight.detach().double(), cell.candidate_x.bias.detach().double()
    wh, bh = cell.candidate_h.weight.detach().double(), cell.candidate_h.bias.detach().double()
    worst = 0.0
    for row in range(2):
        h = torch.zeros(4, dtype=torch.float64)
        expected = {}
        for x_t in x[row].double():
            r, z = torch.sigmoid(w @ torch.cat([x_t, h]) + b).chunk(2)
            n = torch.tanh(wx @ x_t + bx + r * (wh @ h + bh))
            h = z * n + (1 - z) * h
            for key, value in dict(reset_gate=r, update_gate=1 - z, new_gate=n, hidden=h).items():
                expected.setdefault(key, []).append(value)
        expected = {k: torch.stack(v) for k, v in expected.items()}
        worst = max(worst, _compare(trace, "", 0, "forward", expected, row))
    LARGEST["hand-written GRU cell"] = worst


def test_with_detach_false_the_recorded_cell_loop_quantities_stay_in_the_autograd_graph():
    torch.manual_seed(7)
    model = CellLoop(nn.LSTMCell(3, 4))
    x = torch.randn(1, 5, 3)
    with rnnviz.capture(model, detach=False) as trace:
        model(x)
    recorded = trace["cell.layer0.forward.hidden"][0, -1].sum()
    (through_trace,) = torch.autograd.grad(recorded, model.cell.weight_hh)
    state = None
    for t in range(5):
        state = model.cell(x[:, t], state)
    (direct,) = torch.autograd.grad(state[0][0].sum(), model.cell.weight_hh)
    assert torch.allclose(through_trace, direct, atol=1e-6) and float(direct.abs().max()) > 0
    assert trace["cell.layer0.forward.forget_gate"].requires_grad


def test_only_this_threads_calls_are_recorded_and_the_hooks_are_gone_after_the_block():
    torch.manual_seed(8)
    model = CellLoop(nn.GRUCell(3, 4)).eval()
    x = torch.randn(1, 4, 3)
    other = threading.Thread(target=lambda: [model(x) for _ in range(20)])
    with torch.no_grad(), rnnviz.capture(model) as trace:
        other.start()
        model(x)
        other.join()
    assert [c.prefix for c in trace.calls] == ["cell"] and trace.call().lengths == (4,)
    assert "forward" not in model.cell.__dict__ and "forward" not in model.__dict__


def test_hook_points_and_stack_say_what_is_wrong():
    with pytest.raises(rnnviz.RnnvizError, match="must be one of"):
        rnnviz.HookPoint("gate")
    outsider = nn.GRUCell(2, 2)
    with pytest.raises(rnnviz.RnnvizError, match="not a submodule"):
        rnnviz.stack(nn.Module(), outsider)
    badly_named = nn.Module()
    badly_named.f = rnnviz.HookPoint()
    with pytest.raises(rnnviz.RnnvizError, match="name the attribute after a quantity"):
        with rnnviz.capture(badly_named):
            pass


def test_a_hook_point_given_a_whole_sequence_says_it_records_one_step_per_call():
    cell = HandWrittenLSTM(3, 4)
    with pytest.raises(
        rnnviz.RnnvizError, match=r"shape \(2, 5, 4\): a hook point records one step"
    ):
        with rnnviz.capture(cell):
            cell.hidden(torch.zeros(2, 5, 4))


def test_threads_capturing_one_shared_cell_loop_each_get_their_own_steps():
    torch.manual_seed(12)
    model = CellLoop(nn.LSTMCell(3, 4)).eval()
    inputs = [torch.randn(1, 3 + k, 3) for k in range(4)]
    results, errors = {}, []

    def worker(k):
        try:
            for _ in range(5):
                with torch.no_grad(), rnnviz.capture(model) as trace:
                    model(inputs[k])
                results[k] = trace
        except Exception as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for k, trace in results.items():
        assert trace.call().lengths == (3 + k,)
        _compare(trace, "cell", 0, "forward", reference_cell_steps(model.cell, inputs[k][0]), 0)
    assert "forward" not in model.cell.__dict__


def test_an_incomplete_hand_written_cell_is_skipped_with_a_warning():
    half = nn.Module()
    half.forget_gate = rnnviz.HookPoint()
    with pytest.warns(UserWarning, match="declares no input_gate"), rnnviz.capture(half) as trace:
        half.forget_gate(torch.rand(1, 3))
    assert not trace.calls and not trace.names()


def _unit_edit(units, steps, value=None, scale=None):
    """The reference's intervention: set or scale `units` at the call indices `steps`."""

    def edit(value_now, t):
        if t not in steps:
            return value_now
        value_now = value_now.clone()
        value_now[units] = value if value is not None else value_now[units] * scale
        return value_now

    return edit


def test_an_edit_inside_an_lstm_cell_loop_changes_the_later_steps_as_the_reference_does():
    torch.manual_seed(9)
    model = CellLoop(nn.LSTMCell(4, 5)).eval()
    x = torch.randn(2, 6, 4)
    edits = [
        rnnviz.Edit("cell.layer0.forward.forget_gate", units=[1, 3], steps=slice(2, None), value=1),
        rnnviz.Edit("cell.layer0.forward.input_gate", units=[1, 3], steps=slice(2, None), value=0),
        rnnviz.Edit("cell.layer0.forward.hidden", units=[0], steps=[4], scale=0.5, batch=[1]),
    ]
    with torch.no_grad(), rnnviz.capture(model, edits=edits) as trace:
        output = model(x)
    keep_c = {
        "forget_gate": _unit_edit([1, 3], range(2, 6), value=1.0),
        "input_gate": _unit_edit([1, 3], range(2, 6), value=0.0),
    }
    worst = 0.0
    for b in range(2):
        halve = {"hidden": _unit_edit([0], [4], scale=0.5)} if b == 1 else {}
        plan = {**keep_c, **halve}
        expected = reference_cell_steps(
            model.cell, x[b], edit=lambda name, t, v: plan[name](v, t) if name in plan else v
        )
        worst = max(worst, _compare(trace, "cell", 0, "forward", expected, b))
        with torch.no_grad():
            _close(output[b], model.fc(expected["hidden"][-1].float()), "the edited model's output")
    c = trace["cell.layer0.forward.cell"]
    assert torch.equal(c[:, 2:, [1, 3]], c[:, 1:2, [1, 3]].expand(-1, 4, -1))  # c held from step 1
    assert loop_exactness(trace, "cell") is None  # an edited run is another model
    LARGEST["edited LSTM cell loop"] = worst


def test_an_edit_of_a_backward_cell_counts_its_steps_from_the_end_of_the_text():
    torch.manual_seed(10)
    model = BidirectionalStackedLSTM().eval()
    x = torch.randn(1, 5, 4)
    edit = rnnviz.Edit("layer0.backward.cell", units=[2], steps=[-1, -2], value=0.0)
    with torch.no_grad(), rnnviz.capture(model, edits=[edit]) as trace:
        model(x)
    # the backward cell reads token 4 first, then 3: its calls 0 and 1
    plan = _unit_edit([2], [0, 1], value=0.0)
    expected = reference_cell_steps(
        model.backward0, x[0].flip(0), edit=lambda name, t, v: plan(v, t) if name == "cell" else v
    )
    expected = {q: v.flip(0) for q, v in expected.items()}
    LARGEST["edited backward cell"] = _compare(trace, "", 0, "backward", expected, 0)
    assert float(trace["layer0.backward.cell"][0, 3:, 2].abs().max()) == 0.0


def test_an_edit_through_a_hook_point_changes_what_a_hand_written_cell_goes_on_with():
    torch.manual_seed(11)
    model = HandWrittenLSTM(3, 4)
    x = torch.randn(1, 5, 3)
    edit = rnnviz.Edit("layer0.forward.hidden", units=[0, 2], steps=[1], value=0.0)
    with torch.no_grad(), rnnviz.capture(model, edits=[edit]) as trace:
        h = model(x)
    plan = _unit_edit([0, 2], [1], value=0.0)
    expected = _reference_hand_written_lstm(
        model, x[0], edit=lambda name, t, v: plan(v, t) if name == "hidden" else v
    )
    LARGEST["edited hand-written LSTM"] = _compare(trace, "", 0, "forward", expected, 0)
    _close(h[0], expected["hidden"][-1], "the edited cell's output")


def test_cell_loop_edits_say_what_is_wrong():
    model = BidirectionalStackedLSTM()
    x = torch.randn(1, 3, 4)
    cases = [
        (rnnviz.Edit("layer0.backward.cell", steps=[1], value=0), "counted from the end"),
        (rnnviz.Edit("layer0.forward.cell", steps=[-1], value=0), "positions from the start"),
        (rnnviz.Edit("layer0.forward.reset_gate", value=0), "cannot edit"),
        (rnnviz.Edit("[1].layer0.forward.cell", value=0), "never applied"),
        (rnnviz.Edit("layer0.forward.cell", steps=[2, 3], value=0), "not at every step listed"),
        (rnnviz.Edit("layer1.forward.cell", units=[9], value=0), "units \\[9\\] outside 0..4"),
    ]
    for edit, message in cases:
        with pytest.raises(rnnviz.RnnvizError, match=message):
            with torch.no_grad(), rnnviz.capture(model, edits=[edit]):
                model(x)
