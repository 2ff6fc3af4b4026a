"""Model architectures, their JSON config, and safe save/load.

The two architectures are deliberately minimal so that what the visualiser
shows *is* the model: an ``embedding`` feeding one ``rnn`` module (nn.LSTM,
nn.GRU or nn.RNN, ``batch_first=True``) and a linear ``head``.  Fixed
submodule names let the capture engine address ``rnn.layer0.forward.*``
without per-model glue.

Weights are stored as safetensors and configs as JSON; nothing is ever
unpickled, so loading a folder from elsewhere cannot execute code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnviz.core.cells import GATE_ROWS
from rnnviz.core.quantities import CELL_KINDS, CellKind
from rnnviz.errors import ModelError
from rnnviz.models.tokenizers import Tokenizer, tokenizer_from_dict

Task = Literal["classifier", "language_model"]
Pooling = Literal["last", "mean", "max"]
POOLINGS = ("last", "mean", "max")

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
FORMAT_VERSION = 1


def _pretrained_dir() -> Path:
    """The shipped models: `pretrained/` beside the package in a checkout; in an installed wheel the
    same folders, packed as `rnnviz/pretrained` (pyproject.toml maps one onto the other)."""
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "pretrained"
    return checkout if checkout.is_dir() else package / "pretrained"


PRETRAINED_DIR = _pretrained_dir()

_RNN_CLASSES: dict[CellKind, type[nn.RNNBase]] = {
    "lstm": nn.LSTM,
    "gru": nn.GRU,
    "rnn_tanh": nn.RNN,
    "rnn_relu": nn.RNN,
}
# config.json files written before the cell kind had one spelling: {"cell": "rnn" | "gru" | "lstm"}.
_LEGACY_CELL = {"rnn": "rnn_tanh", "gru": "gru", "lstm": "lstm"}


def with_cell_kind(model: dict[str, Any]) -> dict[str, Any]:
    """A config's "model" entries, a file's legacy {"cell": "rnn"} read as {"cell_kind": "rnn_tanh"}."""
    if not isinstance(model, dict) or "cell_kind" in model or model.get("cell") not in _LEGACY_CELL:
        return model
    fields = {key: value for key, value in model.items() if key != "cell"}
    return {**fields, "cell_kind": _LEGACY_CELL[model["cell"]]}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture, plus its published metrics."""

    name: str
    description: str
    task: Task
    cell_kind: CellKind
    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    labels: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    # What a classifier's head reads: the final hidden state, or the mean / max of the last layer's
    # outputs over the tokens (a topic spread over a long text survives the mean; h_T forgets it).
    pooling: Pooling = "last"

    def __post_init__(self) -> None:
        problems = []
        if self.task not in ("classifier", "language_model"):
            problems.append(f"task must be 'classifier' or 'language_model', got {self.task!r}")
        if self.cell_kind not in CELL_KINDS:
            problems.append(f"cell_kind must be one of {CELL_KINDS}, got {self.cell_kind!r}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                problems.append(f"{name} must be a positive integer, got {v!r}")
        if self.task == "classifier" and len(self.labels) < 2:
            problems.append("a classifier needs at least two label names in 'labels'")
        if self.task == "language_model" and self.bidirectional:
            problems.append("a language model cannot be bidirectional (it would see the future)")
        if self.pooling not in POOLINGS:
            problems.append(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        elif self.task == "language_model" and self.pooling != "last":
            problems.append(
                "a language model predicts at every position; pooling applies to classifiers"
            )
        if not (0.0 <= float(self.dropout) < 1.0):
            problems.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        if problems:
            raise ModelError("invalid model config: " + "; ".join(problems))

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        d = with_cell_kind(d)
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"invalid model config: unknown keys {sorted(unknown)}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ModelError(f"invalid model config: {e}") from None


def _make_rnn(cfg: ModelConfig) -> nn.RNNBase:
    kwargs: dict[str, Any] = dict(
        input_size=cfg.embedding_dim,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        batch_first=True,
        bidirectional=cfg.bidirectional,
        dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
    )
    if cfg.cell_kind in ("rnn_tanh", "rnn_relu"):
        kwargs["nonlinearity"] = cfg.cell_kind.removeprefix("rnn_")
    return _RNN_CLASSES[cfg.cell_kind](**kwargs)


class TextClassifier(nn.Module):
    """embedding → RNN → linear head on the final hidden state of the last layer (``pooling="last"``),
    or on the mean / max over the tokens of the last layer's outputs (``"mean"`` / ``"max"``).

    For a bidirectional RNN the final state is ``[h_forward_T ; h_backward_1]``, i.e.
    each direction's state after reading the whole sentence.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(cfg.dropout)
        self.rnn = _make_rnn(cfg)
        self.head_dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size * cfg.num_directions, len(cfg.labels))
        self.num_directions = cfg.num_directions
        self.pooling = cfg.pooling

    def final_state(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The [B, H * directions] vector the head reads."""
        x = self.embedding_dropout(self.embedding(ids))
        lengths = lengths.cpu().to(torch.int64)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed)
        if self.pooling == "last":
            h_n = h[0] if isinstance(h, tuple) else h  # LSTM returns (h_n, c_n)
            last = h_n[-self.num_directions :]  # last layer, all directions: [D, B, H]
            return torch.cat(list(last), dim=-1)
        outputs, _ = pad_packed_sequence(
            out, batch_first=True
        )  # [B, T, D*H], zeros past each length
        if self.pooling == "mean":
            return outputs.sum(1) / lengths.to(outputs.device, outputs.dtype).unsqueeze(1)
        valid = torch.arange(outputs.shape[1], device=outputs.device) < lengths.to(
            outputs.device
        ).unsqueeze(1)
        return outputs.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1)

    def pooled(self, outputs: torch.Tensor) -> torch.Tensor:
        """What the head reads from the last layer's outputs [B, T, D*H] of unpadded sequences: [B, D*H]."""
        if self.pooling == "mean":
            return outputs.mean(1)
        if self.pooling == "max":
            return outputs.amax(1)
        width = self.rnn.hidden_size
        final = outputs[:, -1, :width]
        if self.num_directions == 2:  # the backward direction ends at t = 0
            final = torch.cat([final, outputs[:, 0, width:]], dim=-1)
        return final

    def pooled_per_step(self, outputs: torch.Tensor) -> torch.Tensor:
        """What the head would read after each token, from a unidirectional last layer's outputs [T, H]."""
        if self.pooling == "mean":
            steps = torch.arange(
                1, outputs.shape[0] + 1, dtype=outputs.dtype, device=outputs.device
            )
            return outputs.cumsum(0) / steps.unsqueeze(1)
        if self.pooling == "max":
            return outputs.cummax(0).values
        return outputs

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((ids.shape[0],), ids.shape[1], dtype=torch.int64)
        return self.head(self.head_dropout(self.final_state(ids, lengths)))


class CharLanguageModel(nn.Module):
    """embedding → RNN → linear head at every timestep: y_t = softmax(V·h_t + c)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=0)
        self.rnn = _make_rnn(cfg)
        self.head_dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def forward(self, ids: torch.Tensor, state: Any = None) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(ids), state)
        return self.head(self.head_dropout(out))

    def forward_with_state(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Like forward but also returns the recurrent state, for incremental sampling."""
        out, new_state = self.rnn(self.embedding(ids), state)
        return self.head(out), new_state


def build_module(cfg: ModelConfig) -> nn.Module:
    """Fresh, randomly initialised module for ``cfg``."""
    return TextClassifier(cfg) if cfg.task == "classifier" else CharLanguageModel(cfg)


def architecture_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight's name and shape in ``build_module(cfg)``, in its order, computed without building it.

    Arithmetic rather than a module on the meta device: the first meta-device build imports some 800
    modules (nn.init.normal_ has no native meta kernel). tests/test_uploads.py checks it against the module.
    """
    gate_rows = len(GATE_ROWS[cfg.cell_kind]) * cfg.hidden_size
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (cfg.vocab_size, cfg.embedding_dim)}
    for layer in range(cfg.num_layers):
        inputs = cfg.embedding_dim if layer == 0 else cfg.hidden_size * cfg.num_directions
        for suffix in ("", "_reverse")[: cfg.num_directions]:
            shapes[f"rnn.weight_ih_l{layer}{suffix}"] = (gate_rows, inputs)
            shapes[f"rnn.weight_hh_l{layer}{suffix}"] = (gate_rows, cfg.hidden_size)
            shapes[f"rnn.bias_ih_l{layer}{suffix}"] = (gate_rows,)
            shapes[f"rnn.bias_hh_l{layer}{suffix}"] = (gate_rows,)
    outputs = len(cfg.labels) if cfg.task == "classifier" else cfg.vocab_size
    shapes["head.weight"] = (outputs, cfg.hidden_size * cfg.num_directions)
    shapes["head.bias"] = (outputs,)
    return shapes


def check_weight_shapes(
    expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]
) -> None:
    """Refuse weights whose names or shapes differ from the architecture the config describes."""

    def listed(names: list[str]) -> str:
        return f"{names}" if len(names) <= 5 else f"{names[:5]} and {len(names) - 5} more"

    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing tensors {listed(missing)}")
        if extra:
            parts.append(f"unexpected tensors {listed(extra)}")
        raise ModelError(
            f"weights do not match the architecture in {CONFIG_FILE}: " + "; ".join(parts)
        )
    for name, shape in expected.items():
        if tuple(found[name]) != shape:
            raise ModelError(
                f"tensor {name!r} has shape {tuple(found[name])}, config implies {shape}"
            )


def module_from_tensors(cfg: ModelConfig, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """The module ``cfg`` describes, holding ``tensors``: names, shapes and values are checked before it is built."""
    check_weight_shapes(
        architecture_shapes(cfg), {name: tuple(t.shape) for name, t in tensors.items()}
    )
    for name, t in tensors.items():
        if not torch.isfinite(t).all():
            raise ModelError(f"tensor {name!r} contains NaN or infinite values")
    module = build_module(cfg)
    module.load_state_dict({name: t.to(torch.float32) for name, t in tensors.items()})
    return module.eval()


@dataclass(frozen=True)
class LoadedModel:
    """A ready-to-use model: config, tokenizer and module (in eval mode)."""

    config: ModelConfig
    tokenizer: Tokenizer
    module: nn.Module
    folder: Path | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def encode(self, text: str):
        """Tokenize ``text`` with this model's tokenizer (an :class:`~rnnviz.models.tokenizers.Encoding`)."""
        return self.tokenizer.encode(text)


def save(
    folder: str | Path,
    config: ModelConfig,
    tokenizer: Tokenizer,
    module: nn.Module,
    weights_dtype: str = "float32",
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` into ``folder`` (created if needed).

    ``weights_dtype="float16"`` stores half-size weights; `load` always returns a float32 module.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer.vocab_size != config.vocab_size:
        raise ModelError(
            f"tokenizer has {tokenizer.vocab_size} entries but config.vocab_size is {config.vocab_size}"
        )
    if weights_dtype not in ("float32", "float16"):
        raise ModelError(f"weights can be stored as float32 or float16, not {weights_dtype!r}")
    dtype = getattr(torch, weights_dtype)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in module.state_dict().items()}
    save_file(
        tensors,
        str(folder / WEIGHTS_FILE),
        metadata={"format": "rnnviz", "version": str(FORMAT_VERSION)},
    )
    payload = {
        "format_version": FORMAT_VERSION,
        "model": config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
    }
    (folder / CONFIG_FILE).write_text(
        json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return folder


def bundled_names() -> list[str]:
    """Names of the models shipped in ``pretrained/`` (folders that have a config.json)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_FILE).is_file())


def resolve(name_or_path: str | Path) -> Path:
    """A bundled name → ``pretrained/<name>``; otherwise an existing folder path."""
    s = str(name_or_path)
    candidate = PRETRAINED_DIR / s
    if "/" not in s and "\\" not in s and (candidate / CONFIG_FILE).is_file():
        return candidate
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return p
    names = ", ".join(bundled_names()) or "none found"
    raise ModelError(f"no bundled model or folder named {s!r} (bundled models: {names})")


def config_from_payload(payload: Any) -> tuple[ModelConfig, Tokenizer]:
    """The config and tokenizer of a parsed config.json."""
    if not isinstance(payload, dict) or "model" not in payload or "tokenizer" not in payload:
        raise ModelError("expected an object with 'model' and 'tokenizer' entries")
    if not isinstance(payload["model"], dict):
        raise ModelError("invalid model config: 'model' must be an object")
    config = ModelConfig.from_dict(payload["model"])
    try:
        tokenizer = tokenizer_from_dict(payload["tokenizer"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ModelError(f"invalid tokenizer: {e}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise ModelError(
            f"tokenizer has {tokenizer.vocab_size} entries but vocab_size is {config.vocab_size}"
        )
    want_kind = "char" if config.task == "language_model" else "word"
    if tokenizer.kind != want_kind:
        raise ModelError(f"a {config.task} needs a {want_kind!r} tokenizer, got {tokenizer.kind!r}")
    return config, tokenizer


def read_config(folder: str | Path) -> tuple[ModelConfig, Tokenizer]:
    """Parse and validate ``config.json`` of a model folder."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ModelError(f"{path}: missing (a model folder needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: not valid JSON ({e})") from None
    try:
        return config_from_payload(payload)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None


def load(name_or_path: str | Path) -> LoadedModel:
    """Load a bundled model by name (e.g. ``"sst2-lstm"``) or a model folder path.

    Raises :class:`ModelError` naming the problem if the config is invalid or
    the weights do not match the architecture the config describes.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = resolve(name_or_path)
    config, tokenizer = read_config(folder)
    wpath = folder / WEIGHTS_FILE
    if not wpath.is_file():
        raise ModelError(f"{wpath}: missing weights file")
    try:
        tensors = load_file(str(wpath))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{wpath}: not a readable safetensors file ({e})") from None
    try:
        module = module_from_tensors(config, tensors)
    except ModelError as e:
        raise ModelError(f"{wpath}: {e}") from None
    return LoadedModel(config=config, tokenizer=tokenizer, module=module, folder=folder)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
