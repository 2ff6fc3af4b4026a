"""The app's views of any PyTorch model with recurrent submodules, in a notebook, in one call.

    shown = rnnviz.show(model, ids, tokens=words, predict=model.fc, classes=["World", "Sports", ...])
    shown                       # in Jupyter / VS Code: the heatmaps, a unit's timeline, the prediction
    shown.heatmaps              # each is a plotly Figure, the same builders the app draws with

`show` runs the model once inside `rnnviz.core.capture`, picks one sequence of the batch (a padded batch,
a `PackedSequence`, or a model that packs inside its forward) and draws the chosen layer and direction
of the first recurrent module the forward pass calls. `save_for_app` writes a model of the lesson's
shape (embedding → RNN / LSTM / GRU → linear on h[-1] or on the pooled outputs) and its vocabulary as
a folder that `rnnviz app --model` opens: safetensors + JSON, checked to compute what the notebook's
model computes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnviz import figures
from rnnviz.analysis.ordering import ORDERINGS, shown_units, unit_order
from rnnviz.core.capture import capture
from rnnviz.core.cells import RECURRENT_MODULES, cell_kind
from rnnviz.core.trace import RecordedCall, Trace
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import POOLINGS, ModelConfig, TextClassifier, save
from rnnviz.models.tokenizers import PAD, UNK, WordTokenizer


@dataclass(frozen=True)
class Shown:
    """One sequence as the model saw it, and the app's figures of it; displays itself in a notebook."""

    tokens: list[str]
    trace: Trace  # the whole batch, as `rnnviz.core.capture` records it
    record: RecordedCall  # the recurrent module call the figures show
    sequence: int  # which sequence of the batch
    layer: int
    direction: str
    unit: int  # the unit of the timeline
    probabilities: np.ndarray | None  # [time, classes]: the prediction after each token
    classes: tuple[str, ...]
    heatmaps: go.Figure  # every quantity of the layer and direction, a panel each
    timeline: go.Figure  # the unit's gates, cell and hidden state over time
    prediction: go.Figure | None  # P(class) after each token, when `predict` was given

    @property
    def figures(self) -> list[go.Figure]:
        return [f for f in (self.prediction, self.heatmaps, self.timeline) if f is not None]

    def states(
        self, quantity: str, layer: int | None = None, direction: str | None = None
    ) -> np.ndarray:
        """[time, units] values of `quantity` for the shown sequence (its valid steps only)."""
        return _sequence_states(
            self.trace,
            self.record,
            self.sequence,
            len(self.tokens),
            self.layer if layer is None else layer,
            direction or self.direction,
            quantity,
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display  # only ever called inside IPython

        for figure in self.figures:
            display(figure)  # Plotly's own renderers: Jupyter, VS Code, nbconvert


def show(
    model: nn.Module,
    inputs: Any,
    tokens: Sequence[str] | None = None,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    classes: Sequence[str] | None = None,
    pooling: str = "last",
    sequence: int = 0,
    layer: int = 0,
    direction: str = "forward",
    unit: int | None = None,
    order: str = "index",
    units: int | None = None,
    recurrent: str | None = None,
) -> Shown:
    """Run `model` on `inputs` inside `capture` and draw one sequence the way the app does.

    `inputs`: what the model is called with — a tensor (1-D ids become a batch of one), a
    `PackedSequence`, or a tuple of arguments (`(ids, lengths)` for a model that packs inside).
    `tokens`: the chosen sequence's words (default: its ids, when the inputs hold integer ids).
    `predict`: how to read a prediction after each token, e.g. the model's linear head: it is applied
    to the last layer's outputs (`pooling="last"`: h_t, as a head on h[-1] reads; `"mean"` / `"max"`:
    the running mean / max of h_1..h_t, as a head on the pooled outputs reads) and gives logits, or
    probabilities if every row already sums to 1. `unit`: the timeline's unit (default: the unit whose
    hidden state varies most). `order` / `units`: the heatmap rows, as the app's "order units by"
    and "units shown". `recurrent`: the module path to show (default: the first one called).
    """
    if pooling not in POOLINGS:
        raise RnnvizError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if order not in ORDERINGS:
        raise RnnvizError(f"order must be one of {', '.join(ORDERINGS)}, got {order!r}")
    arguments = _as_arguments(inputs)
    with torch.no_grad(), capture(model) as trace:
        model(*arguments)
    record = _chosen_call(trace, recurrent)
    batch = len(record.lengths)
    if not 0 <= sequence < batch:
        raise RnnvizError(f"sequence {sequence} is not in the batch (it holds {batch} sequences)")
    if not 0 <= layer < record.num_layers:
        raise RnnvizError(
            f"layer {layer} does not exist: the module has {record.num_layers} layer(s)"
        )
    if direction not in record.directions:
        raise RnnvizError(
            f"direction must be one of {', '.join(record.directions)}, got {direction!r}"
        )
    length = record.lengths[sequence]
    tokens = _tokens(tokens, arguments, sequence, batch, length)
    labels = figures.token_labels(tokens)

    def states(quantity: str) -> np.ndarray:
        return _sequence_states(trace, record, sequence, length, layer, direction, quantity)

    hidden = states("hidden")
    unit = int(unit_order(hidden, "variance")[0]) if unit is None else unit
    if not 0 <= unit < hidden.shape[1]:
        raise RnnvizError(f"unit {unit} does not exist: the layer has {hidden.shape[1]} units")
    rows = shown_units(unit_order(hidden, order, unit), units or hidden.shape[1], unit)
    heatmaps = figures.quantity_grid(
        {q: states(q) for q in record.quantities}, labels, record.cell_kind, rows
    )
    timeline = figures.unit_timeline(
        {q: states(q)[:, unit] for q in record.quantities}, labels, unit
    )
    probabilities, prediction, names = None, None, tuple(classes or ())
    if predict is not None:
        probabilities = _per_step_probabilities(trace, record, sequence, length, predict, pooling)
        names = names or tuple(f"class {k}" for k in range(probabilities.shape[1]))
        if len(names) != probabilities.shape[1]:
            raise RnnvizError(
                f"{len(names)} class names for {probabilities.shape[1]} outputs of predict"
            )
        prediction = figures.class_probability_figure(probabilities, labels, list(names))
    return Shown(
        tokens=list(tokens),
        trace=trace,
        record=record,
        sequence=sequence,
        layer=layer,
        direction=direction,
        unit=unit,
        probabilities=probabilities,
        classes=names,
        heatmaps=heatmaps,
        timeline=timeline,
        prediction=prediction,
    )


def _as_arguments(inputs: Any) -> tuple:
    if isinstance(inputs, tuple) and not isinstance(inputs, PackedSequence):
        return inputs
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 1 and not inputs.is_floating_point():
        return (inputs.unsqueeze(0),)
    return (inputs,)


def _chosen_call(trace: Trace, recurrent: str | None) -> RecordedCall:
    if not trace.calls:
        raise RnnvizError(
            "the forward pass called no nn.RNN, nn.LSTM or nn.GRU, so there is nothing to show"
        )
    if recurrent is None:
        return trace.calls[0]
    try:
        return trace.call(recurrent)
    except KeyError as error:
        raise RnnvizError(str(error.args[0])) from None


def _sequence_states(
    trace: Trace,
    record: RecordedCall,
    sequence: int,
    length: int,
    layer: int,
    direction: str,
    quantity: str,
) -> np.ndarray:
    return trace[record.name(layer, direction, quantity)][sequence, :length].cpu().numpy()


def _tokens(
    tokens: Sequence[str] | None, arguments: tuple, sequence: int, batch: int, length: int
) -> list[str]:
    if tokens is not None:
        tokens = [str(t) for t in tokens]
        if len(tokens) != length:
            raise RnnvizError(
                f"{len(tokens)} tokens given, but sequence {sequence} has {length} steps"
            )
        return tokens
    ids = _sequence_ids(arguments, sequence, batch, length)
    return [str(i) for i in ids] if ids is not None else [str(t) for t in range(length)]


def _sequence_ids(arguments: tuple, sequence: int, batch: int, length: int) -> list[int] | None:
    """The chosen sequence's ids, read from the first integer tensor (or packed ids) among the arguments."""
    for argument in arguments:
        if isinstance(argument, PackedSequence) and not argument.data.is_floating_point():
            padded, _ = pad_packed_sequence(argument, batch_first=True)
            return padded[sequence, :length].tolist()
        if (
            isinstance(argument, torch.Tensor)
            and argument.dim() == 2
            and not argument.is_floating_point()
        ):
            if argument.shape[0] == batch and argument.shape[1] >= length:
                return argument[sequence, :length].tolist()
            if (
                argument.shape[1] == batch and argument.shape[0] >= length
            ):  # time-major (batch_first=False)
                return argument[:length, sequence].tolist()
    return None


def _per_step_probabilities(
    trace: Trace,
    record: RecordedCall,
    sequence: int,
    length: int,
    predict: Callable[[torch.Tensor], torch.Tensor],
    pooling: str,
) -> np.ndarray:
    """P(class) after each token: `predict` on the last layer's output at each step (pooled up to it)."""
    if record.bidirectional:
        raise RnnvizError(
            "a bidirectional layer's output at step t has read the whole text, so it gives no "
            "prediction 'after token t'; pass predict=None, or run the model on each prefix"
        )
    outputs = trace[record.name(record.num_layers - 1, "forward", "hidden")][
        sequence, :length
    ]  # [T, H]
    steps = torch.arange(1, length + 1, dtype=outputs.dtype, device=outputs.device).unsqueeze(1)
    if pooling == "mean":
        outputs = outputs.cumsum(0) / steps
    elif pooling == "max":
        outputs = outputs.cummax(0).values
    with torch.no_grad():
        scores = predict(outputs)
    scores = torch.as_tensor(scores).detach().float().cpu()
    if scores.dim() != 2 or scores.shape[0] != length:
        raise RnnvizError(
            f"predict gave shape {tuple(scores.shape)}; expected (steps, classes) = ({length}, C)"
        )
    is_distribution = bool((scores >= 0).all()) and torch.allclose(
        scores.sum(1), torch.ones(length), atol=1e-4
    )
    return (scores if is_distribution else torch.softmax(scores, dim=1)).numpy()


# --------------------------------------------------------------------------- notebook → app


def save_for_app(
    model: nn.Module,
    folder: str | Path,
    vocabulary: Sequence[str] | Mapping[str, int],
    classes: Sequence[str],
    *,
    name: str | None = None,
    description: str = "a model trained in a notebook",
    run: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
    pad: str = PAD,
    unk: str = UNK,
) -> Path:
    """Write a model of the lesson's shape (one nn.Embedding → one nn.RNN / LSTM / GRU → one nn.Linear on
    h[-1] or on the mean or max of the outputs) and its vocabulary as a folder `rnnviz app --model FOLDER` opens.

    `vocabulary`: the index → word list (torchtext's `vocab.get_itos()`) or the word → index mapping;
    it must hold the unknown-word entry `unk`; `pad` is optional. `run(model, ids)` says how to call the
    model on ids of shape [1, time] (default `model(ids)`; for a model taking lengths:
    `lambda m, ids: m(ids, torch.tensor([ids.shape[1]]))`). The written model is checked to give the
    same logits as `model` on probe sentences (which also tells h[-1] from mean and max); a model that
    reads something else is refused with the reason. Weights are safetensors, the rest JSON: nothing is pickled.
    """
    embedding, recurrent, head = (
        _only(model, kind) for kind in (nn.Embedding, nn.RNNBase, nn.Linear)
    )
    problems = []
    if not isinstance(recurrent, RECURRENT_MODULES):
        problems.append(f"{type(recurrent).__name__} is not nn.RNN, nn.LSTM or nn.GRU")
    if getattr(recurrent, "proj_size", 0) or not recurrent.bias:
        problems.append("the app's format has no LSTM projection and always has biases")
    if recurrent.input_size != embedding.embedding_dim:
        problems.append(
            f"the RNN reads {recurrent.input_size} features, the embedding gives {embedding.embedding_dim}"
        )
    if problems:
        raise RnnvizError("this model does not map onto the app's format: " + "; ".join(problems))
    itos = _index_to_word(vocabulary, embedding.num_embeddings)
    if unk not in itos:
        raise RnnvizError(f"the vocabulary has no unknown-word entry {unk!r} (pass unk= its name)")
    # The app's vocabulary starts with <pad>, <unk>: move those rows first, keep the rest in order.
    rest = [i for i, word in enumerate(itos) if word not in (pad, unk)]
    rows = [itos.index(pad) if pad in itos else -1, itos.index(unk), *rest]
    weight = embedding.weight.detach().float().cpu()
    new_weight = torch.stack([weight[r] if r >= 0 else torch.zeros_like(weight[0]) for r in rows])
    config = ModelConfig(
        name=name or Path(folder).name,
        description=description,
        task="classifier",
        cell_kind=cell_kind(recurrent),
        vocab_size=len(rows),
        embedding_dim=embedding.embedding_dim,
        hidden_size=recurrent.hidden_size,
        num_layers=recurrent.num_layers,
        bidirectional=recurrent.bidirectional,
        dropout=float(recurrent.dropout),
        labels=[str(c) for c in classes],
    )
    if (
        head.in_features != recurrent.hidden_size * config.num_directions
        or head.out_features != len(classes)
    ):
        raise RnnvizError(
            f"the linear layer maps {head.in_features} → {head.out_features}; the app's head maps the "
            f"final hidden state ({recurrent.hidden_size * config.num_directions}) → the "
            f"{len(classes)} classes"
        )
    state = {
        "embedding.weight": new_weight,
        **{f"rnn.{k}": v.detach().float().cpu() for k, v in recurrent.state_dict().items()},
        "head.weight": head.weight.detach().float().cpu(),
        "head.bias": head.bias.detach().float().cpu(),
    }
    for (
        pooling
    ) in POOLINGS:  # which of the app's heads this model's linear layer is: h[-1], mean or max
        config = replace(config, pooling=pooling)
        bundled = TextClassifier(config).eval()
        bundled.load_state_dict(state)
        if _same_logits(model, bundled, rows, run):
            break
    else:
        raise RnnvizError(
            "the app's format (a linear layer on the final hidden state, or on the mean or max of the outputs) "
            "does not compute what this model computes on probe sentences; a model with other layers or "
            "another readout needs an entry point instead: `rnnviz app --model package.module:build_model` "
            "(README, 'Your own model')"
        )
    tokenizer = WordTokenizer([PAD, UNK, *(itos[i] for i in rest)])
    return save(folder, config, tokenizer, bundled)


def _only(model: nn.Module, kind: type) -> nn.Module:
    found = [m for m in model.modules() if isinstance(m, kind)]
    if len(found) != 1:
        raise RnnvizError(
            f"the app's format is one nn.Embedding → one recurrent module → one nn.Linear; "
            f"this model has {len(found)} {kind.__name__} module(s)"
        )
    return found[0]


def _index_to_word(vocabulary: Sequence[str] | Mapping[str, int], size: int) -> list[str]:
    if isinstance(vocabulary, Mapping):
        itos = [""] * len(vocabulary)
        for word, index in vocabulary.items():
            if not 0 <= index < len(itos) or itos[index]:
                raise RnnvizError(f"the vocabulary's indices must be 0..{len(itos) - 1}, each once")
            itos[index] = word
    else:
        itos = [str(word) for word in vocabulary]
    if len(itos) != size:
        raise RnnvizError(f"the vocabulary has {len(itos)} entries, the embedding {size} rows")
    if len(set(itos)) != len(itos):
        raise RnnvizError("the vocabulary holds a word twice")
    return itos


def _same_logits(model: nn.Module, bundled: TextClassifier, rows: list[int], run) -> bool:
    """Whether both models give the same logits on a few probe sentences (random ids, several lengths)."""
    generator = torch.Generator().manual_seed(0)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for length in (1, 5, 17):
            new_ids = torch.randint(1, len(rows), (1, length), generator=generator)  # never <pad>
            old_ids = torch.tensor([[rows[i] for i in new_ids[0].tolist()]], device=device)
            with torch.no_grad():
                theirs = (run(model, old_ids) if run is not None else model(old_ids)).float().cpu()
                ours = bundled(new_ids)
            if theirs.shape != ours.shape or not torch.allclose(theirs, ours, atol=1e-4, rtol=1e-4):
                return False
        return True
    finally:
        model.train(was_training)
