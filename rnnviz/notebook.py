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

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnviz import figures
from rnnviz.analysis.ordering import ORDERINGS, shown_units, unit_order
from rnnviz.core.capture import capture
from rnnviz.core.cell_loops import HookPoint, cell_layers, loop_exactness
from rnnviz.core.cells import RECURRENT_MODULES, cell_kind
from rnnviz.core.exactness import EXACT_WITHIN, capture_exactness
from rnnviz.core.trace import RecordedCall, Trace
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import POOLINGS, ModelConfig, TextClassifier, save
from rnnviz.models.tokenizers import PAD, UNK, WORD_STYLES, WordTokenizer


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
    # Largest |recorded − the module's own outputs| (the app's badge); None for a hand-written cell,
    # whose hook points are the numbers shown.
    exactness: float | None = None
    reading: str | None = None  # how the prediction after each token was read: see `show`
    notes: tuple[str, ...] = ()  # what the reader should know: train mode, padding left out, ...

    @property
    def figures(self) -> list[go.Figure]:
        return [f for f in (self.prediction, self.heatmaps, self.timeline) if f is not None]

    @property
    def summary(self) -> str:
        """One line on how far the numbers are from the module's own outputs, then the notes."""
        if self.exactness is None:
            exact = "values as the model's hook points recorded them"
        else:
            verdict = "matches" if self.exactness <= EXACT_WITHIN else "DIFFERS from"
            exact = f"{verdict} the module's own outputs to {self.exactness:.1e}"
        return "\n".join([exact, *self.notes])

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

        print(self.summary)
        for figure in self.figures:
            display(figure)  # Plotly's own renderers: Jupyter, VS Code, nbconvert


READINGS = (*POOLINGS, "prefixes")


def show(
    model: nn.Module,
    inputs: Any,
    tokens: Sequence[str] | None = None,
    predict: Callable[[torch.Tensor], torch.Tensor] | str | None = None,
    *,
    classes: Sequence[str] | None = None,
    pooling: str | None = None,
    pad: int | None = None,
    sequence: int = 0,
    layer: int = 0,
    direction: str = "forward",
    unit: int | None = None,
    order: str = "index",
    units: int | None = None,
    recurrent: str | None = None,
) -> Shown:
    """Run `model` on `inputs` inside `capture` (in eval mode) and draw one sequence the way the app does.

    `inputs`: what the model is called with — a tensor (1-D ids become a batch of one), a
    `PackedSequence`, or a tuple of arguments (`(ids, lengths)` for a model that packs inside).
    `tokens`: the chosen sequence's words (default: its ids, when the inputs hold integer ids).
    `pad`: the padding id of a padded (not packed) batch: trailing pads are left out (also when
    `tokens` is shorter than the padded row and the rest is one id repeated).
    `predict`: how to read a prediction after each token. The model's linear head (`model.fc`): it is
    applied to the last layer's h_t, or to the running mean / max of h_1..h_t, whichever gives the
    model's own output after the last token (`pooling=` "last" / "mean" / "max" says it; one that
    does not match is warned about). `"prefixes"`: the model itself run on tokens 1..t, as the app
    does for bidirectional models (and what `show` does for them). `unit`: the timeline's unit (default:
    the unit whose hidden state varies most). `order` / `units`: the heatmap rows, as the app's
    "order units by" and "units shown". `recurrent`: the module path to show (default: the first one
    called; cells in a loop and hand-written cells count, see rnnviz.core.cell_loops).
    """
    if pooling is not None and pooling not in POOLINGS:
        raise RnnvizError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if isinstance(predict, str) and predict != "prefixes":
        raise RnnvizError(f"predict is a head (a callable) or 'prefixes', got {predict!r}")
    if order not in ORDERINGS:
        raise RnnvizError(f"order must be one of {', '.join(ORDERINGS)}, got {order!r}")
    arguments = _as_arguments(inputs)
    notes = []
    was_training = model.training
    if was_training and _behaves_differently_in_training(model):
        message = (
            "the model was in training mode (dropout on: each call gives other numbers); it ran in "
            "eval mode here and is back in training mode"
        )
        warnings.warn(f"rnnviz.show: {message}", stacklevel=2)
        notes.append(message)
        model.eval()
    try:
        with torch.no_grad(), _module_inputs(model) as module_inputs, capture(model) as trace:
            output = model(*arguments)
        record = _chosen_call(trace, recurrent)
        batch = len(record.lengths)
        if not 0 <= sequence < batch:
            raise RnnvizError(
                f"sequence {sequence} is not in the batch (it holds {batch} sequences)"
            )
        if not 0 <= layer < record.num_layers:
            raise RnnvizError(
                f"layer {layer} does not exist: the module has {record.num_layers} layer(s)"
            )
        if direction not in record.directions:
            raise RnnvizError(
                f"direction must be one of {', '.join(record.directions)}, got {direction!r}"
            )
        steps = record.lengths[sequence]  # what the module ran: a padded batch's pads included
        length = _unpadded_length(arguments, sequence, batch, steps, tokens, pad, notes)
        tokens = _tokens(tokens, arguments, sequence, batch, length)
        probabilities, reading = None, None
        if predict is not None:
            probabilities, reading = _per_step_probabilities(
                model, arguments, output, trace, record, sequence, steps, length, predict, pooling
            )
            notes.append(_READING_NOTES[reading])
        exactness = _exactness(model, trace, record, module_inputs)
    finally:
        model.train(was_training)
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
    prediction, names = None, tuple(classes or ())
    if probabilities is not None:
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
        exactness=exactness,
        reading=reading,
        notes=tuple(notes),
    )


_READING_NOTES = {
    "last": "prediction after token t: the head on h_t (the model reads h[-1])",
    "mean": "prediction after token t: the head on the mean of h_1..h_t (the model reads the mean)",
    "max": "prediction after token t: the head on the max of h_1..h_t (the model reads the max)",
    "prefixes": "prediction after token t: the model run on tokens 1..t",
}


def _behaves_differently_in_training(model: nn.Module) -> bool:
    """Whether training mode changes what the model computes: dropout, batch normalisation."""
    return any(
        (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0)
        or (isinstance(m, nn.RNNBase) and m.dropout > 0 and m.num_layers > 1)
        or isinstance(m, nn.modules.batchnorm._BatchNorm)
        for m in model.modules()
    )


def _as_arguments(inputs: Any) -> tuple:
    if isinstance(inputs, tuple) and not isinstance(inputs, PackedSequence):
        return inputs
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 1 and not inputs.is_floating_point():
        return (inputs.unsqueeze(0),)
    return (inputs,)


@contextmanager
def _module_inputs(model: nn.Module) -> Iterator[dict[str, list[tuple]]]:
    """While the block runs: path → the (input, hx) of each call of each nn.RNN / LSTM / GRU."""
    seen: dict[str, list[tuple]] = {}
    handles = []
    for path, module in model.named_modules():
        if isinstance(module, nn.RNNBase):

            def keep(module, args, kwargs, path=path):
                hx = args[1] if len(args) > 1 else kwargs.get("hx")
                seen.setdefault(path, []).append((args[0] if args else kwargs["input"], hx))

            handles.append(module.register_forward_pre_hook(keep, with_kwargs=True))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _exactness(model, trace, record, module_inputs) -> float | None:
    """How far the recorded quantities are from the module's own outputs (None: a hand-written cell)."""
    calls = module_inputs.get(record.path)
    if calls is not None and record.call < len(calls):
        inputs, hx = calls[record.call]
        module = model.get_submodule(record.path)
        return capture_exactness(
            trace, module, inputs, hx, path=record.path, call=record.call
        ).max_scaled_error
    return loop_exactness(trace, record.prefix)


def _chosen_call(trace: Trace, recurrent: str | None) -> RecordedCall:
    if not trace.calls:
        raise RnnvizError(
            "the forward pass called no nn.RNN, nn.LSTM or nn.GRU, no nn.*Cell and no "
            "rnnviz.HookPoint, so there is nothing to show"
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


def _unpadded_length(arguments, sequence, batch, steps, tokens, pad, notes) -> int:
    """The sequence's own length: a padded (not packed) batch's trailing pads left out, and said so."""
    ids = _sequence_ids(arguments, sequence, batch, steps)
    if ids is None:
        return steps
    length = steps
    if pad is not None:
        while length > 0 and ids[length - 1] == pad:
            length -= 1
        if length == 0:
            raise RnnvizError(f"sequence {sequence} holds only padding (id {pad})")
    elif tokens is not None and 0 < len(tokens) < steps and len(set(ids[len(tokens) :])) == 1:
        length = len(tokens)
        pad = ids[-1]
    if length < steps:
        notes.append(
            f"padding left out: positions {length}..{steps - 1} of sequence {sequence} hold the pad "
            f"id {pad}; the model's own answer for the padded row also read them"
        )
    return length


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
    model, arguments, output, trace, record, sequence, steps, length, predict, pooling
) -> tuple[np.ndarray, str]:
    """P(class) after each token and how it was read ("last", "mean", "max" or "prefixes")."""
    if predict == "prefixes" or record.bidirectional:
        # A bidirectional layer's output at step t has read the whole text: run each prefix instead.
        return _prefix_probabilities(model, arguments, sequence, len(record.lengths), length), (
            "prefixes"
        )
    own = _own_scores(output, sequence, len(record.lengths))
    candidates = POOLINGS if pooling is None else (pooling,)
    misses = {}
    for candidate in candidates:
        scores = _pooled_scores(trace, record, sequence, steps, predict, candidate)
        if own is None:
            break
        if scores.shape[1] != own.shape[0]:
            raise RnnvizError(
                f"predict gives {scores.shape[1]} scores per step, the model's output "
                f"{own.shape[0]}: pass the model's own head"
            )
        misses[candidate] = float((scores[-1] - own).abs().max())
        if misses[candidate] <= 1e-4 * max(1.0, float(own.abs().max())):
            break
    else:
        differences = ", ".join(f"{p}: {d:.3g}" for p, d in misses.items())
        if pooling is None:
            raise RnnvizError(
                "predict on h_T, or on the mean or max of h_1..h_T, does not give the model's own "
                f"output for this sequence (largest difference {differences}), so the model reads "
                "something else: pass predict='prefixes' to run the model on each prefix, or "
                "pooling= to draw that reading anyway"
            )
        warnings.warn(
            f"rnnviz.show: pooling={pooling!r} does not give the model's own output after the last "
            f"step (off by {differences})",
            stacklevel=3,
        )
    if own is None and pooling is None:
        raise RnnvizError(
            "the model's output is not [batch, classes], so how the head reads cannot be checked: "
            "pass pooling='last', 'mean' or 'max' (or predict='prefixes')"
        )
    return _as_probabilities(scores[:length]), candidate


def _own_scores(output, sequence: int, batch: int) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor) and output.dim() == 2 and output.shape[0] == batch:
        return output[sequence].detach().float().cpu()
    return None


def _pooled_scores(trace, record, sequence, steps, predict, pooling) -> torch.Tensor:
    """`predict` on the last layer's output at each of the module's steps (pooled up to it)."""
    outputs = trace[record.name(record.num_layers - 1, "forward", "hidden")][
        sequence, :steps
    ]  # [T, H]
    counts = torch.arange(1, steps + 1, dtype=outputs.dtype, device=outputs.device).unsqueeze(1)
    if pooling == "mean":
        outputs = outputs.cumsum(0) / counts
    elif pooling == "max":
        outputs = outputs.cummax(0).values
    with torch.no_grad():
        scores = predict(outputs)
    scores = torch.as_tensor(scores).detach().float().cpu()
    if scores.dim() != 2 or scores.shape[0] != steps:
        raise RnnvizError(
            f"predict gave shape {tuple(scores.shape)}; expected (steps, classes) = ({steps}, C)"
        )
    return scores


def _as_probabilities(scores: torch.Tensor) -> np.ndarray:
    """Scores as probabilities: rows that already sum to 1 stay, logits go through softmax."""
    is_distribution = bool((scores >= 0).all()) and torch.allclose(
        scores.sum(1), torch.ones(scores.shape[0]), atol=1e-4
    )
    return (scores if is_distribution else torch.softmax(scores, dim=1)).numpy()


def _prefix_probabilities(model, arguments, sequence: int, batch: int, length: int) -> np.ndarray:
    """The model's own output on tokens 1..t of the chosen sequence, for every t."""
    rows = []
    for t in range(1, length + 1):
        with torch.no_grad():
            scores = model(*_prefix_arguments(arguments, sequence, batch, t))
        if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != 1:
            raise RnnvizError(
                "predict='prefixes' needs a model that returns [batch, classes] scores; it returned "
                f"{type(scores).__name__} {tuple(getattr(scores, 'shape', ()))}"
            )
        rows.append(scores.detach().float().cpu())
    return _as_probabilities(torch.cat(rows))


def _prefix_arguments(arguments: tuple, sequence: int, batch: int, t: int) -> tuple:
    """The arguments cut to the first t steps of one sequence: ids / features (batch-first or
    time-major), a PackedSequence, and a lengths vector become those of a batch of one."""
    cut = []
    for argument in arguments:
        if isinstance(argument, PackedSequence):
            padded, _ = pad_packed_sequence(argument, batch_first=True)
            cut.append(pack_padded_sequence(padded[sequence : sequence + 1, :t], [t], True))
        elif isinstance(argument, torch.Tensor) and argument.dim() == 1 and len(argument) == batch:
            cut.append(torch.tensor([t], dtype=argument.dtype, device=argument.device))
        elif isinstance(argument, torch.Tensor) and argument.dim() >= 2:
            if argument.shape[0] == batch:
                cut.append(argument[sequence : sequence + 1, :t])
            else:  # time-major
                cut.append(argument[:t, sequence : sequence + 1])
        else:
            cut.append(argument)
    return tuple(cut)


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
    tokenizer: str = "sst-ptb",
) -> Path:
    """Write a model of the lesson's shape (one nn.Embedding → one nn.RNN / LSTM / GRU → one nn.Linear on
    h[-1] or on the mean or max of the outputs) and its vocabulary as a folder `rnnviz app --model FOLDER` opens.

    `vocabulary`: the index → word list (torchtext's `vocab.get_itos()`) or the word → index mapping;
    it must hold the unknown-word entry `unk`; `pad` is optional. `run(model, ids)` says how to call the
    model on ids of shape [1, time] (default `model(ids)`; for a model taking lengths:
    `lambda m, ids: m(ids, torch.tensor([ids.shape[1]]))`). The written model is checked to give the
    same logits as `model` on probe sentences (which also tells h[-1] from mean and max); a model that
    reads something else is refused with the reason. Weights are safetensors, the rest JSON: nothing is pickled.
    `tokenizer`: how the app splits typed text — "sst-ptb" (the bundled models' treebank style) or
    "basic_english" (torchtext's `get_tokenizer("basic_english")`, which the lesson's vocabulary is
    built with: "don't" → don ' t). A model of the lesson's shape written with nn.*Cells in a loop
    is saved as the equivalent nn.RNN / LSTM / GRU (checked like the rest).
    """
    embedding, recurrent, head = (
        _only(model, nn.Embedding),
        _recurrent_for_app(model),
        _only(model, nn.Linear),
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
    if tokenizer not in WORD_STYLES:
        problems.append(f"tokenizer must be one of {', '.join(WORD_STYLES)}, got {tokenizer!r}")
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
    words = WordTokenizer([PAD, UNK, *(itos[i] for i in rest)], tokenizer)
    return save(folder, config, words, bundled)


def _recurrent_for_app(model: nn.Module) -> nn.RNNBase:
    """The model's nn.RNN / LSTM / GRU, or one with the weights of its nn.*Cells (one cell in a loop,
    or the layers and directions `rnnviz.stack` declares); the probe check then says whether the
    model computes what that layer would."""
    if any(isinstance(m, HookPoint) for m in model.modules()):
        raise RnnvizError(
            "a hand-written cell is not one of the architectures the app rebuilds from safetensors "
            "(nn.RNN / LSTM / GRU, or nn.*Cells in a loop); open it through an entry point: "
            "`rnnviz app --model package.module:build_model` (README, 'Your own model')"
        )
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        return _only(model, nn.RNNBase)
    layers = cell_layers(model)
    if not layers:
        raise RnnvizError(
            "the app's format is one nn.Embedding → one recurrent network → one nn.Linear; this "
            "model has no nn.RNN / LSTM / GRU and its nn.*Cells are not one network (declare its "
            "layers with rnnviz.stack)"
        )
    first = layers[0][0]
    kinds = {type(c) for pair in layers for c in pair if c is not None}
    bidirectional = {pair[1] is not None for pair in layers}
    if (
        len(kinds) != 1
        or len(bidirectional) != 1
        or getattr(first, "nonlinearity", "tanh") != "tanh"
    ):
        raise RnnvizError(
            "the app's format needs one kind of cell (RNN with tanh, LSTM or GRU), every layer with "
            "the same directions"
        )
    layer_type = {nn.LSTMCell: nn.LSTM, nn.GRUCell: nn.GRU, nn.RNNCell: nn.RNN}[type(first)]
    if not first.bias:
        raise RnnvizError("the app's format always has biases; these cells have none")
    recurrent = layer_type(
        first.input_size,
        first.hidden_size,
        num_layers=len(layers),
        bidirectional=bidirectional == {True},
        batch_first=True,
    )
    try:
        with torch.no_grad():
            for k, pair in enumerate(layers):
                for suffix, cell in zip(("", "_reverse"), pair):
                    if cell is None:
                        continue
                    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        getattr(recurrent, f"{kind}_l{k}{suffix}").copy_(getattr(cell, kind))
    except RuntimeError as error:  # a cell's sizes do not chain into the next layer
        raise RnnvizError(f"the cells do not stack into one network: {error}") from None
    return recurrent


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


def _called(model: nn.Module, ids: torch.Tensor, run) -> torch.Tensor:
    """The model's scores on ids [1, time], called as `run` says (default model(ids)); a clear message
    when that call fails or returns something else."""
    how = "run(model, ids)" if run is not None else "model(ids)"
    try:
        scores = run(model, ids) if run is not None else model(ids)
    except Exception as error:  # noqa: BLE001 — the model's own error, reported with what to do
        raise RnnvizError(
            f"calling the model as {how} on ids of shape [1, time] failed "
            f"({type(error).__name__}: {error}); pass run= to say how to call it, e.g. for a model "
            "that takes lengths: run=lambda m, ids: m(ids, torch.tensor([ids.shape[1]]))"
        ) from None
    if not isinstance(scores, torch.Tensor):
        raise RnnvizError(
            f"{how} returned {type(scores).__name__}; pass run= that returns the [1, classes] scores"
        )
    return scores.float().cpu()


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
                theirs = _called(model, old_ids, run)
                ours = bundled(new_ids)
            if theirs.shape != ours.shape or not torch.allclose(theirs, ours, atol=1e-4, rtol=1e-4):
                return False
        return True
    finally:
        model.train(was_training)
