"""The models the page offers: bundled ones, `rnnviz app --model` folders and entry points, and a
session's uploads; loading them once per server process and running a text once per (model, text)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import streamlit as st

import rnnviz
from rnnviz.analysis.inspection import TextRun, estimated_seconds, inspect_text, prepare_text
from rnnviz.analysis.untrained import untrained_copy
from rnnviz.app import budget
from rnnviz.app.state import Offer, start_model
from rnnviz.core.cell_loops import loop_exactness
from rnnviz.core.exactness import Exactness, run_exactness
from rnnviz.core.quantities import QUANTITIES_BY_CELL_KIND
from rnnviz.errors import ModelError, RnnvizError
from rnnviz.models.architectures import bundled_names, read_config, resolve
from rnnviz.models.custom import CustomModel, load_entry_point, probe_call
from rnnviz.models.uploads import load_upload

UPLOADS = "uploads"  # session key: this session's uploaded models, by name
UPLOAD_MESSAGE = "upload_message"


def offer(model: rnnviz.LoadedModel | CustomModel | rnnviz.ModelConfig) -> Offer:
    if isinstance(model, CustomModel):
        record = probe_call(model)
        return Offer(
            f"{model.description} — from a Python entry point",
            "custom",
            record.num_layers,
            record.bidirectional,
            record.hidden_size,
            record.quantities,
        )
    config = model if isinstance(model, rnnviz.ModelConfig) else model.config
    quantities = QUANTITIES_BY_CELL_KIND[config.cell_kind]
    return Offer(
        describe(config),
        config.task,
        config.num_layers,
        config.bidirectional,
        config.hidden_size,
        quantities,
        tuple(config.labels or ()),
    )


def describe(config: rnnviz.ModelConfig) -> str:
    metrics = config.metrics
    if config.task == "classifier":
        shown = (
            f"test accuracy {metrics['test_accuracy']:.3f}"
            if "test_accuracy" in metrics
            else "no metric"
        )
    else:
        shown = (
            f"validation {metrics['val_loss_nats_per_char']:.3f} nats/char"
            if "val_loss_nats_per_char" in metrics
            else "no metric"
        )
    return f"{config.description} — {shown}"


def cli_model_sources() -> list[str]:
    """Model folders or entry points given as `rnnviz app --model …` (streamlit passes them after `--`)."""
    args = sys.argv[1:]
    return [value for flag, value in zip(args, args[1:]) if flag == "--model"]


@st.cache_resource
def server_offers() -> dict[str, tuple[str, Offer]]:
    """name → (where to load it from, its offer): bundled models, `--model` folders and entry points."""
    # Configs only (cheap) for folders; an entry point has to be built to know its shape.
    offered = {name: (name, offer(read_config(resolve(name))[0])) for name in bundled_names()}
    for source in cli_model_sources():
        model = read_config(source)[0] if Path(source).is_dir() else shared_model(source)
        name = model.name
        entry = replace(offer(model), opened=True)
        offered[name if name not in offered else f"{name} ({source})"] = (source, entry)
    return offered


def session_uploads() -> dict[str, rnnviz.LoadedModel]:
    """Models this session uploaded: kept in its own session state, never visible to another."""
    return st.session_state.setdefault(UPLOADS, {})


def offers() -> dict[str, Offer]:
    """Every model this session can choose, by name."""
    offered = {name: entry for name, (_, entry) in server_offers().items()}
    offered.update({name: offer(model) for name, model in session_uploads().items()})
    return offered


@st.cache_resource
def shared_model(source: str) -> rnnviz.LoadedModel | CustomModel:
    """Weights load once per server process and are shared, read-only, by every session; their
    bytes count in the server's memory budget."""
    if ":" in source and not Path(source).is_dir():
        loaded = load_entry_point(source)
    else:
        loaded = rnnviz.load(source)
    budget.count_server_model(source, loaded)
    return loaded


def untrained_model(source: str, seed: int) -> rnnviz.LoadedModel:
    """The same architecture with freshly initialised weights (seeded), shared like the trained one:
    kept in the budget like a run (rebuilt from the seed when it was dropped)."""
    return budget.kept(
        budget.SHARED,
        ("untrained", source, seed),
        lambda: untrained_copy(shared_model(source), seed),
    )


def _server_model(source: str, untrained_seed: int | None) -> rnnviz.LoadedModel | CustomModel:
    return (
        shared_model(source) if untrained_seed is None else untrained_model(source, untrained_seed)
    )


def _shared_run(source: str, text: str, untrained_seed: int | None = None) -> TextRun:
    """A trace computed once per (model, text) and reused while only the view changes; kept in the
    server's memory budget, within the limits of one run."""
    return budget.kept(
        budget.SHARED,
        ("run", source, text, untrained_seed),
        lambda: _inspect(_server_model(source, untrained_seed), text),
    )


def _inspect(loaded: rnnviz.LoadedModel | CustomModel, text: str) -> TextRun:
    """`inspect_text` within one run's limits; a run expected to take a second or more says so (a
    spinner on every run would add an element and a thread to each sentence's rerun)."""
    limits = budget.run_limits()
    if estimated_seconds(loaded, text, limits) < 1:
        return inspect_text(loaded, text, truncate=True, limits=limits)
    with st.spinner("Reading the text through the model…", show_time=True):
        return inspect_text(loaded, text, truncate=True, limits=limits)


def _shared_exactness(
    source: str, text: str, untrained_seed: int | None = None
) -> Exactness | None:
    loaded = _server_model(source, untrained_seed)
    run = _shared_run(source, text, untrained_seed)
    if not isinstance(loaded, rnnviz.LoadedModel):
        # An entry point's nn.*Cell loop: h and c rebuilt from the recorded gates vs the cell's own.
        error = loop_exactness(run.trace, run.recurrent_call.prefix)
        return None if error is None else Exactness(error, {"h, c from gates": error}, error)
    return budget.kept(
        budget.SHARED,
        ("exactness", source, text, untrained_seed),
        lambda: run_exactness(loaded, run),
    )


def heavy_text(name: str, text: str, untrained_seed: int | None = None) -> bool:
    """Whether the page of `text` on the model named `name` is heavy work (many tokens to draw, or a
    slow run), which waits its turn at the server's gate (budget.admitted)."""
    if not text.strip():
        return False
    try:
        loaded = model(name, untrained_seed)
        tokens = len(loaded.encode(prepare_text(text, truncate=True)[0]).ids)
    except RnnvizError:
        return False  # the run itself says what is wrong
    if tokens >= budget.HEAVY_TOKENS:
        return True
    return budget.is_heavy(tokens, estimated_seconds(loaded, text, budget.run_limits()))


def can_untrain(name: str) -> bool:
    """Whether the model named `name` can be shown freshly initialised (a bundled-format model on the server)."""
    return name not in session_uploads() and isinstance(model(name), rnnviz.LoadedModel)


def model(name: str, untrained_seed: int | None = None) -> rnnviz.LoadedModel | CustomModel:
    """The model named `name` in this session's catalogue (freshly initialised with a seed)."""
    uploads = session_uploads()
    if name in uploads:
        return uploads[name]
    return _server_model(server_offers()[name][0], untrained_seed)


def text_run(name: str, text: str, untrained_seed: int | None = None) -> TextRun:
    """`text` as the model named `name` reads it (cached: per server for shared models, per session
    for uploads)."""
    uploads = session_uploads()
    if name not in uploads:
        return _shared_run(server_offers()[name][0], text, untrained_seed)
    return _session_cached(
        ("run", name, text),
        lambda: _inspect(uploads[name], text),
    )


def exactness(name: str, text: str, untrained_seed: int | None = None) -> Exactness | None:
    """How closely the run's recorded quantities match the module's own outputs (None: not measured)."""
    uploads = session_uploads()
    if name not in uploads:
        return _shared_exactness(server_offers()[name][0], text, untrained_seed)
    return _session_cached(
        ("exactness", name, text), lambda: run_exactness(uploads[name], text_run(name, text))
    )


def _session_cached(key: tuple, compute):
    """What this session computed for its uploads, kept in the server's budget as its own (the
    upload's identity in the key: a new upload of the same name is another model)."""
    module = id(session_uploads()[key[1]].module)
    return budget.kept(budget.session_id(), (*key, module), compute)


def load_uploaded_model() -> None:
    """Button callback: validate and load the two uploaded files, then switch to the model."""
    config_file, weights_file = (
        st.session_state.get("upload_config"),
        st.session_state.get("upload_weights"),
    )
    if config_file is None or weights_file is None:
        st.session_state[UPLOAD_MESSAGE] = "Choose both files: config.json and model.safetensors."
        return
    try:
        loaded = load_upload(config_file.getvalue(), weights_file.getvalue())
    except ModelError as error:
        st.session_state[UPLOAD_MESSAGE] = f"Could not load the model: {error}"
        return
    name = f"upload: {loaded.config.name}"
    uploads = session_uploads()
    try:
        budget.keep_upload(name, loaded, len(uploads) - (name in uploads))
    except RnnvizError as error:
        st.session_state[UPLOAD_MESSAGE] = f"Could not keep the model: {error}"
        return
    uploads[name] = loaded
    st.session_state[UPLOAD_MESSAGE] = ""
    st.session_state["model"] = name
    start_model(loaded.config.task, tuple(loaded.config.labels or ()))
