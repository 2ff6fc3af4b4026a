"""rnnviz.show on the lesson's own kind of model (built here, not by rnnviz), checked against the module's
outputs and gates recomputed from its weights; save_for_app round trips; docs/lesson.ipynb runs headless."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DATA_DIR
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence

import rnnviz
from rnnviz.analysis.predict import class_probabilities_per_step
from rnnviz.errors import RnnvizError

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["World", "Sports", "Business", "Sci/Tech"]


class PackedLSTMClassifier(nn.Module):
    """The lesson's packed-sequence model: embedding → nn.LSTM(batch_first=True), packed → linear on h[-1]."""

    def __init__(
        self, vocab_size: int = 40, embed_dim: int = 8, hidden_dim: int = 12, num_class: int = 4
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=1)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, num_class)

    def forward(self, text: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            self.embedding(text), lengths, batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        return self.fc(hidden[-1])


class MeanRNNClassifier(nn.Module):
    """The lesson's simple model: embedding → nn.RNN(batch_first=True) → linear on the mean of the outputs."""

    def __init__(
        self, vocab_size: int = 40, embed_dim: int = 8, hidden_dim: int = 10, num_class: int = 4
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = nn.RNN(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, num_class)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(self.embedding(text))
        return self.fc(output.mean(dim=1))


def _padded_batch():
    torch.manual_seed(1)
    lengths = torch.tensor([6, 4, 9])
    ids = torch.randint(2, 40, (3, 9))
    for row, length in enumerate(lengths.tolist()):
        ids[row, length:] = 1  # the lesson's <pad>
    return ids, lengths


def _panel(figure, quantity: str) -> np.ndarray:
    """A grid panel's heatmap values, [shown units, time], as drawn."""
    (heatmap,) = [t for t in figure.data if t.type == "heatmap" and t.legendgroup == quantity]
    return np.asarray(heatmap.z, dtype=np.float64)


def test_show_on_a_packed_lesson_lstm_draws_the_modules_own_states_and_gates_for_the_chosen_sequence():
    torch.manual_seed(0)
    model = PackedLSTMClassifier().eval()
    ids, lengths = _padded_batch()
    shown = rnnviz.show(model, (ids, lengths), predict=model.fc, classes=CLASSES, sequence=1)

    length = int(lengths[1])
    with torch.no_grad():
        x = model.embedding(ids)
        packed_output, _ = model.lstm(
            pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        )
        output, _ = pad_packed_sequence(packed_output, batch_first=True)
        h = output[1, :length].numpy()  # [T, H], PyTorch's own hidden states of sequence 1
    assert shown.tokens == [
        str(i) for i in ids[1, :length].tolist()
    ]  # ids read from the padded batch
    assert np.allclose(_panel(shown.heatmaps, "hidden"), h.T, atol=1e-5)

    # the forget gate recomputed from the weights: f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    H = model.lstm.hidden_size
    w_ih, w_hh = model.lstm.weight_ih_l0.detach(), model.lstm.weight_hh_l0.detach()
    b = (model.lstm.bias_ih_l0 + model.lstm.bias_hh_l0).detach()
    previous = np.vstack([np.zeros((1, H)), h[:-1]])
    pre = x[1, :length].numpy() @ w_ih.numpy().T + previous @ w_hh.numpy().T + b.numpy()
    forget = 1 / (1 + np.exp(-pre[:, H : 2 * H]))
    assert np.allclose(_panel(shown.heatmaps, "forget_gate"), forget.T, atol=1e-5)

    # the prediction after each token: the head on h_t; after the last token it is the model's own output
    with torch.no_grad():
        expected = torch.softmax(model.fc(torch.from_numpy(h)), dim=-1).numpy()
        final = torch.softmax(model(ids, lengths), dim=-1)[1].numpy()
    assert np.allclose(shown.probabilities, expected, atol=1e-6)
    assert np.allclose(shown.probabilities[-1], final, atol=1e-6)
    drawn = np.array([trace.y for trace in shown.prediction.data], dtype=np.float64).T
    assert (
        np.allclose(drawn, expected, atol=1e-6)
        and [t.name for t in shown.prediction.data] == CLASSES
    )

    # the unit timeline is the unit that varies most, its hidden state as drawn
    assert shown.unit == int(np.argmax(h.var(axis=0)))
    (timeline_h,) = [t for t in shown.timeline.data if t.name == "hidden state h"]
    assert np.allclose(np.asarray(timeline_h.y, dtype=np.float64), h[:, shown.unit], atol=1e-6)
    assert len(shown.figures) == 3


def test_the_mean_pooled_prediction_after_each_token_equals_the_model_run_on_that_prefix():
    torch.manual_seed(2)
    model = MeanRNNClassifier().eval()
    ids = torch.randint(0, 40, (7,))
    shown = rnnviz.show(
        model, ids, tokens=[f"w{i}" for i in range(7)], predict=model.fc, pooling="mean"
    )
    with torch.no_grad():
        prefixes = np.stack(
            [torch.softmax(model(ids[None, : t + 1]), -1)[0].numpy() for t in range(7)]
        )
    assert np.allclose(shown.probabilities, prefixes, atol=1e-6)
    assert shown.classes == tuple(f"class {k}" for k in range(4))
    assert "w6 ·6" in list(shown.prediction.data[0].x)


def test_show_takes_a_packed_sequence_and_time_major_modules():
    torch.manual_seed(3)
    gru = nn.GRU(5, 7, num_layers=2)  # batch_first=False, called directly on a PackedSequence
    sequences = [torch.randn(4, 5), torch.randn(6, 5)]
    packed = pack_sequence(sequences, enforce_sorted=False)
    shown = rnnviz.show(gru, packed, sequence=1, layer=1, order="variance", units=3, unit=2)
    with torch.no_grad():
        output, _ = pad_packed_sequence(gru(packed)[0])  # [T, B, H]
    assert shown.tokens == [str(t) for t in range(6)]  # no ids to read: positions
    assert np.allclose(shown.states("hidden"), output[:6, 1].numpy(), atol=1e-5)
    by_variance = np.argsort(-output[:6, 1].numpy().var(axis=0), kind="stable").tolist()
    # as many rows as asked, the selected unit in the last one when it is not among the first
    expected_rows = by_variance[:3] if 2 in by_variance[:3] else by_variance[:2] + [2]
    assert [int(u) for u in shown.heatmaps.data[0].y] == expected_rows


def test_show_says_what_is_wrong_with_its_arguments():
    model = PackedLSTMClassifier().eval()
    ids, lengths = _padded_batch()
    with pytest.raises(RnnvizError, match="3 tokens given, but sequence 0 has 6 steps"):
        rnnviz.show(model, (ids, lengths), tokens=["a", "b", "c"])
    with pytest.raises(RnnvizError, match="sequence 5 is not in the batch"):
        rnnviz.show(model, (ids, lengths), sequence=5)
    with pytest.raises(RnnvizError, match="predict gives 12 scores per step, the model's output 4"):
        rnnviz.show(model, (ids, lengths), predict=lambda h: h, classes=CLASSES)
    with pytest.raises(RnnvizError, match="3 class names for 4 outputs"):
        rnnviz.show(model, (ids, lengths), predict=model.fc, classes=CLASSES[:3])
    bidirectional = nn.LSTM(3, 4, bidirectional=True, batch_first=True)
    with pytest.raises(RnnvizError, match="needs a model that returns \\[batch, classes\\]"):
        rnnviz.show(bidirectional, torch.randn(1, 5, 3), predict=nn.Linear(8, 2))
    with pytest.raises(RnnvizError, match="no nn.RNN, nn.LSTM or nn.GRU, no nn.*Cell"):
        rnnviz.show(nn.Linear(3, 3), torch.randn(1, 3))


def test_a_shown_model_displays_through_plotlys_renderers(monkeypatch):
    import IPython.display

    displayed = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: displayed.append(obj))
    model = PackedLSTMClassifier().eval()
    shown = rnnviz.show(model, _padded_batch(), predict=model.fc)
    shown._ipython_display_()
    assert displayed == shown.figures and all(hasattr(f, "_repr_mimebundle_") for f in displayed)


def test_save_for_app_writes_a_bundled_folder_that_predicts_what_the_notebook_model_predicts(
    tmp_path,
):
    torch.manual_seed(4)
    model = PackedLSTMClassifier()
    vocabulary = ["<unk>", "<pad>"] + [
        f"word{i}" for i in range(38)
    ]  # torchtext's usual order of specials
    folder = rnnviz.save_for_app(
        model,
        tmp_path / "mine",
        vocabulary,
        CLASSES,
        run=lambda m, ids: m(ids, torch.tensor([ids.shape[1]])),
    )
    loaded = rnnviz.load(folder)
    assert loaded.config.labels == CLASSES and loaded.tokenizer.itos[:3] == [
        "<pad>",
        "<unk>",
        "word0",
    ]
    words = ["word3", "word17", "word5", "nonsense"]
    ids = torch.tensor([[vocabulary.index(w) if w in vocabulary else 0 for w in words]])
    with torch.no_grad():
        theirs = torch.softmax(model.eval()(ids, torch.tensor([4])), -1)[0].numpy()
    assert np.allclose(class_probabilities_per_step(loaded, " ".join(words))[-1], theirs, atol=1e-5)
    assert not any(p.suffix in (".pt", ".pkl", ".pth") for p in folder.iterdir())


def test_save_for_app_recognises_a_head_on_the_mean_of_the_outputs(tmp_path):
    torch.manual_seed(5)
    model = MeanRNNClassifier()
    vocabulary = ["<pad>", "<unk>"] + [f"w{i}" for i in range(38)]
    loaded = rnnviz.load(rnnviz.save_for_app(model, tmp_path / "mean", vocabulary, CLASSES))
    assert loaded.config.pooling == "mean" and loaded.config.cell == "rnn"
    ids = torch.tensor([[vocabulary.index(w) for w in ("w1", "w9", "w4")]])
    with torch.no_grad():
        prefixes = [torch.softmax(model.eval()(ids[:, : t + 1]), -1)[0].numpy() for t in range(3)]
    assert np.allclose(
        class_probabilities_per_step(loaded, "w1 w9 w4"), np.stack(prefixes), atol=1e-5
    )


class FirstOutputClassifier(MeanRNNClassifier):
    """A readout the app's format has no head for: the output after the first token."""

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(self.embedding(text))
        return self.fc(output[:, 0])


def test_save_for_app_refuses_what_the_apps_format_cannot_compute_and_says_why(tmp_path):
    vocabulary = ["<pad>", "<unk>"] + [f"w{i}" for i in range(38)]
    with pytest.raises(RnnvizError, match="does not compute what this model computes"):
        rnnviz.save_for_app(FirstOutputClassifier(), tmp_path / "first", vocabulary, CLASSES)
    assert not (tmp_path / "first").exists()
    with pytest.raises(RnnvizError, match="no unknown-word entry"):
        rnnviz.save_for_app(
            PackedLSTMClassifier(), tmp_path / "x", [f"w{i}" for i in range(40)], CLASSES
        )
    with pytest.raises(RnnvizError, match="2 Linear"):
        rnnviz.save_for_app(
            nn.Sequential(PackedLSTMClassifier(), nn.Linear(4, 4)),
            tmp_path / "y",
            vocabulary,
            CLASSES,
        )


def test_the_lesson_notebook_runs_headless_and_shows_its_figures(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    data = DATA_DIR / "agnews" / "train.tsv"
    if not data.is_file():
        pytest.skip(f"AG News sample not found at {data}")
    notebook = nbformat.read(ROOT / "docs" / "lesson.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "strip outputs"
    )
    env = {
        "RNNVIZ_LESSON_FAST": "1",
        "RNNVIZ_DATA_DIR": str(data.parent.parent),
        "RNNVIZ_LESSON_OUT": str(tmp_path),
    }
    os.environ.update(env)
    try:
        nbclient.NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(ROOT / "docs")}},
        ).execute()
    finally:
        for key in env:
            os.environ.pop(key, None)
    outputs = [
        o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
    ]
    plotly = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plotly) >= 3  # the prediction, heatmaps and timeline of the trained model at least
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "held-out accuracy" in text
    # every shown model says how close its numbers are to the module's own outputs
    assert text.count("matches the module's own outputs") >= 4
    assert "the head on the mean of h_1..h_t (the model reads the mean)" in text
    assert "padding left out" in text
    saved = rnnviz.load(tmp_path / "lesson-lstm")
    assert saved.config.labels == CLASSES and saved.tokenizer.style == "basic_english"
