"""The lesson's classes (microsoft/AI-For-Beginners, lessons/5-NLP/16-RNN/RNNPyTorch.ipynb) built the
way the lesson builds them, a two-layer bidirectional GRU variant, cells in a loop and a hand-written
cell, through `rnnviz.show` and `rnnviz.save_for_app`: every recorded quantity against the independent
step-by-step reference (tests/reference.py), the prediction after each token against the model's own
answer on that prefix, and what `show` says about training mode, padding and how the head reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import reference_cell_steps, reference_states
from test_cell_loops import HandWrittenLSTM

import rnnviz
from rnnviz.analysis.predict import class_probabilities_per_step
from rnnviz.errors import RnnvizError

CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
VOCABULARY, EMBED, HIDDEN = 30, 8, 6
LARGEST: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def print_the_largest_differences():
    yield
    for what, difference in LARGEST.items():
        print(f"{what}: {difference:.1e}")


# The lesson's three models: attribute names, embedding initialisation, readouts and packing as the
# lesson has them (its unused `batch_size` lines left out).
class RNNClassifier(torch.nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_class):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.embedding = torch.nn.Embedding(vocab_size, embed_dim)
        self.rnn = torch.nn.RNN(embed_dim, hidden_dim, batch_first=True)
        self.fc = torch.nn.Linear(hidden_dim, num_class)

    def forward(self, x):
        x = self.embedding(x)
        x, h = self.rnn(x)
        return self.fc(x.mean(dim=1))


class LSTMClassifier(torch.nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_class):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.embedding = torch.nn.Embedding(vocab_size, embed_dim)
        self.embedding.weight.data = torch.randn_like(self.embedding.weight.data) - 0.5
        self.rnn = torch.nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = torch.nn.Linear(hidden_dim, num_class)

    def forward(self, x):
        x = self.embedding(x)
        x, (h, c) = self.rnn(x)
        return self.fc(h[-1])


class LSTMPackClassifier(torch.nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_class):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.embedding = torch.nn.Embedding(vocab_size, embed_dim)
        self.embedding.weight.data = torch.randn_like(self.embedding.weight.data) - 0.5
        self.rnn = torch.nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = torch.nn.Linear(hidden_dim, num_class)

    def forward(self, x, lengths):
        x = self.embedding(x)
        pad_x = torch.nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        pad_x, (h, c) = self.rnn(pad_x)
        x, _ = torch.nn.utils.rnn.pad_packed_sequence(pad_x, batch_first=True)
        return self.fc(h[-1])


class BiGRUClassifier(torch.nn.Module):
    """The lesson's closing suggestion: a two-layer bidirectional GRU, the head on both last states."""

    def __init__(self, vocab_size, embed_dim, hidden_dim, num_class, dropout=0.0):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embed_dim)
        self.rnn = torch.nn.GRU(
            embed_dim,
            hidden_dim,
            num_layers=2,
            bidirectional=True,
            batch_first=True,
            dropout=dropout,
        )
        self.fc = torch.nn.Linear(2 * hidden_dim, num_class)

    def forward(self, x):
        x, h = self.rnn(self.embedding(x))
        return self.fc(torch.cat([h[-2], h[-1]], dim=1))


class LSTMCellClassifier(torch.nn.Module):
    """The lesson's LSTM written with the unit it says the layer is made of: nn.LSTMCell in a loop."""

    def __init__(self, vocab_size, embed_dim, hidden_dim, num_class):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embed_dim)
        self.cell = torch.nn.LSTMCell(embed_dim, hidden_dim)
        self.fc = torch.nn.Linear(hidden_dim, num_class)

    def forward(self, x):
        x = self.embedding(x)
        state = None
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
        return self.fc(state[0])


class HandWrittenClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(VOCABULARY, EMBED)
        self.lstm = HandWrittenLSTM(EMBED, HIDDEN)
        self.fc = torch.nn.Linear(HIDDEN, len(CLASSES))

    def forward(self, x):
        return self.fc(self.lstm(self.embedding(x)))


def _build(cls, seed=0, **options):
    torch.manual_seed(seed)
    return cls(VOCABULARY, EMBED, HIDDEN, len(CLASSES), **options).eval()


def _ids(length=7, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCABULARY, (length,), generator=generator)


def _check_states(shown, module, embedded: torch.Tensor, prefix="rnn") -> float:
    """Every recorded quantity of the shown sequence against the reference on its embedded tokens."""
    expected = reference_states(module, embedded.detach())
    worst = 0.0
    for key, values in expected.items():
        recorded = shown.trace[f"{prefix}.{key}"][shown.sequence, : len(shown.tokens)]
        difference = float((recorded.double() - values).abs().max())
        assert difference <= 1e-5, key
        worst = max(worst, difference)
    return worst


def _prefix_answers(model, ids, call=lambda m, ids: m(ids)) -> np.ndarray:
    with torch.no_grad():
        return np.stack(
            [torch.softmax(call(model, ids[None, : t + 1]), -1)[0].numpy() for t in range(len(ids))]
        )


@pytest.mark.parametrize(
    ("cls", "reading"),
    [(RNNClassifier, "mean"), (LSTMClassifier, "last"), (BiGRUClassifier, "prefixes")],
)
def test_show_works_out_how_the_lessons_head_reads_and_its_curve_ends_at_the_models_answer(
    cls, reading
):
    model = _build(cls)
    ids = _ids()
    shown = rnnviz.show(model, ids, predict=model.fc, classes=CLASSES)
    assert shown.reading == reading
    # after token t, the model's own answer on tokens 1..t (a head on h[-1] or the mean reads so)
    assert np.abs(shown.probabilities - _prefix_answers(model, ids)).max() <= 1e-5
    with torch.no_grad():
        embedded = model.embedding(ids)
    LARGEST[cls.__name__] = _check_states(shown, model.rnn, embedded)
    assert shown.exactness is not None and shown.exactness <= 1e-5
    assert "matches the module's own outputs" in shown.summary


def test_the_lessons_packed_model_on_a_padded_batch_shows_each_sentence_without_its_padding():
    model = _build(LSTMPackClassifier)
    lengths = torch.tensor([5, 8, 3])
    ids = torch.zeros(3, 8, dtype=torch.int64)  # the lesson's padify pads with 0
    for row, length in enumerate(lengths.tolist()):
        ids[row, :length] = _ids(length, seed=row)
    shown = rnnviz.show(model, (ids, lengths), predict=model.fc, sequence=2)
    assert shown.reading == "last" and len(shown.tokens) == 3
    call = lambda m, prefix: m(prefix, torch.tensor([prefix.shape[1]]))  # noqa: E731
    expected = _prefix_answers(model, ids[2, :3], call)
    assert np.abs(shown.probabilities - expected).max() <= 1e-5
    with torch.no_grad():
        embedded = model.embedding(ids[2, :3])
    LARGEST["LSTMPackClassifier"] = _check_states(shown, model.rnn, embedded)
    assert shown.exactness <= 1e-5


def test_a_padded_not_packed_batch_leaves_its_pads_out_with_pad_or_shorter_tokens():
    model = _build(LSTMClassifier)
    ids = torch.zeros(2, 9, dtype=torch.int64)
    ids[0, :9], ids[1, :4] = _ids(9, seed=3), _ids(4, seed=4)
    by_pad = rnnviz.show(model, ids, sequence=1, pad=0)
    by_tokens = rnnviz.show(model, ids, sequence=1, tokens=["a", "b", "c", "d"])
    for shown in (by_pad, by_tokens):
        assert len(shown.tokens) == 4 and shown.states("hidden").shape == (4, HIDDEN)
        assert any("padding left out: positions 4..8" in note for note in shown.notes)
        with torch.no_grad():
            embedded = model.embedding(ids[1, :4])
        _check_states(shown, model.rnn, embedded)
    with pytest.raises(RnnvizError, match="2 tokens given, but sequence 1 has 9 steps"):
        ids[1, 6] = 5  # not one id repeated: not padding
        rnnviz.show(model, ids, sequence=1, tokens=["a", "b"])


def test_show_refuses_to_guess_a_readout_it_cannot_match_and_warns_about_a_pooling_that_misses():
    class FirstOutput(RNNClassifier):
        def forward(self, x):
            output, _ = self.rnn(self.embedding(x))
            return self.fc(output[:, 0])

    model = _build(FirstOutput)
    with pytest.raises(RnnvizError, match="does not give the model's own output"):
        rnnviz.show(model, _ids(), predict=model.fc)
    with pytest.warns(UserWarning, match="pooling='last' does not give the model's own output"):
        rnnviz.show(model, _ids(), predict=model.fc, pooling="last")
    shown = rnnviz.show(model, _ids(), predict="prefixes")
    assert np.abs(shown.probabilities - _prefix_answers(model, _ids())).max() <= 1e-5


def test_a_model_left_in_training_mode_is_shown_in_eval_mode_and_told_so():
    model = _build(BiGRUClassifier, dropout=0.5).train()
    ids = _ids()
    with pytest.warns(UserWarning, match="training mode"):
        first = rnnviz.show(model, ids)
    second = rnnviz.show(model, ids)
    assert model.training  # given back as it was
    assert any("training mode" in note for note in first.notes)
    assert np.array_equal(first.states("hidden", 1), second.states("hidden", 1))
    with torch.no_grad():
        embedded = model.embedding(ids)
    _check_states(first, model.rnn, embedded)  # the reference has no dropout: eval mode


def test_cells_in_a_loop_and_a_hand_written_cell_go_through_show():
    model = _build(LSTMCellClassifier)
    ids = _ids()
    shown = rnnviz.show(model, ids, predict=model.fc)
    assert shown.reading == "last" and shown.record.path == "cell"
    assert np.abs(shown.probabilities - _prefix_answers(model, ids)).max() <= 1e-5
    with torch.no_grad():
        expected = reference_cell_steps(model.cell, model.embedding(ids))
    for quantity, values in expected.items():
        assert np.abs(shown.states(quantity) - values.numpy()).max() <= 1e-5
    assert shown.exactness <= 1e-5
    torch.manual_seed(0)
    hand = HandWrittenClassifier().eval()
    shown = rnnviz.show(hand, ids, predict=hand.fc)
    assert shown.record.cell_kind == "lstm" and shown.reading == "last" and shown.exactness is None
    assert np.abs(shown.probabilities - _prefix_answers(hand, ids)).max() <= 1e-5


def test_save_for_app_takes_a_cell_loop_and_refuses_a_hand_written_cell_with_the_way_out(tmp_path):
    vocabulary = ["<pad>", "<unk>"] + [f"w{i}" for i in range(VOCABULARY - 2)]
    model = _build(LSTMCellClassifier)
    loaded = rnnviz.load(rnnviz.save_for_app(model, tmp_path / "cells", vocabulary, CLASSES))
    assert (loaded.config.cell_kind, loaded.config.pooling) == ("lstm", "last")
    words = ["w3", "w17", "w5", "w9"]
    ids = torch.tensor([vocabulary.index(w) for w in words])
    expected = _prefix_answers(model, ids)
    assert np.abs(class_probabilities_per_step(loaded, " ".join(words)) - expected).max() <= 1e-5
    with pytest.raises(RnnvizError, match="hand-written cell .* entry point"):
        rnnviz.save_for_app(HandWrittenClassifier(), tmp_path / "hand", vocabulary, CLASSES)


def test_save_for_app_on_the_packed_model_without_run_says_how_to_call_it(tmp_path):
    vocabulary = ["<pad>", "<unk>"] + [f"w{i}" for i in range(VOCABULARY - 2)]
    with pytest.raises(RnnvizError, match="missing 1 required positional argument.*pass run="):
        rnnviz.save_for_app(_build(LSTMPackClassifier), tmp_path / "packed", vocabulary, CLASSES)
    assert not (tmp_path / "packed").exists()


def test_rnnviz_app_passes_unknown_options_to_streamlit_and_names_the_model_to_open(
    tmp_path, monkeypatch
):
    import subprocess

    from rnnviz import cli

    vocabulary = ["<pad>", "<unk>"] + [f"w{i}" for i in range(VOCABULARY - 2)]
    folder = rnnviz.save_for_app(_build(LSTMClassifier), tmp_path / "mine", vocabulary, CLASSES)
    commands, environments = [], []
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.setattr(
        subprocess,
        "call",
        lambda command, env: commands.append(command) or environments.append(env) or 0,
    )
    argv = ["app", "--model", str(folder), "--server.port", "8633", "--theme.base=dark"]
    assert cli.main(argv) == 0
    (command,) = commands
    assert environments[0]["PYTHONMALLOC"] == "malloc"  # closed sessions' memory handed back
    options, page_arguments = command[: command.index("--")], command[command.index("--") + 1 :]
    assert options[options.index("--server.port") + 1] == "8633"
    assert options.count("--server.port") == 1 and "--theme.base=dark" in options
    assert page_arguments == ["--model", str(folder.resolve())]
    with pytest.raises(SystemExit):
        cli.main(["models", "--server.port", "8633"])  # other commands still refuse them


def test_save_for_app_keeps_the_lessons_basic_english_splitting(tmp_path):
    words = ["don", "'", "t", "apple", "s", "u", ".", "3%"]
    vocabulary = ["<unk>", "<pad>", *words] + [f"w{i}" for i in range(VOCABULARY - 10)]
    folder = rnnviz.save_for_app(
        _build(LSTMClassifier), tmp_path / "basic", vocabulary, CLASSES, tokenizer="basic_english"
    )
    loaded = rnnviz.load(folder)
    encoding = loaded.encode("Don't: Apple's U.S. 3%")
    assert encoding.tokens == ["don", "'", "t", "apple", "'", "s", "u", ".", "s", ".", "3%"]
    assert not any(encoding.unknown)
    with pytest.raises(RnnvizError, match="tokenizer must be one of"):
        rnnviz.save_for_app(
            _build(LSTMClassifier), tmp_path / "x", vocabulary, CLASSES, tokenizer="spacy"
        )
