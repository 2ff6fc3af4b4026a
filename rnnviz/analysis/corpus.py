"""A model's units over a whole corpus: streamed statistics, top contexts, pattern search, on-disk cache.

    corpus = reference_corpus("shakespeare-validation")      # or corpus_from_text(text, task=...)
    index = corpus_index(loaded, corpus, layer=1)             # computed once, then read from the cache
    index.top_contexts(unit=17)                                # the unit's strongest places in the corpus
    index.saturation                                           # every gate's left/right saturation per unit

How: the corpus is a list of segments (sentences for the classifiers; for the character LM,
chunks of `CHUNK_CHARACTERS` characters, each starting from a zero state — no state is carried
across chunks, so chunks batch freely and a unit's context never reaches past its chunk's start).
Segments run in batches of `BATCH_SIZE` through the model inside `rnnviz.core.capture`, the same path
the app uses; each batch's gates are reduced at once to saturation counts (`rnnviz.analysis.corpus_stats`),
so memory holds one batch of gates, never the corpus's. Kept for the views: the hidden state h of
the one chosen layer and direction as float16 (display precision, ~3 significant digits) — at most
`MAX_CORPUS_CHARACTERS` tokens × units × 2 bytes (Shakespeare validation, 256 units: 57 MB).

Cache: `~/.cache/rnnviz/corpus/<key>.npz` (or `$RNNVIZ_CACHE_DIR/corpus`), key = sha256 of the
model's weights (the tensors themselves, so an edited module misses), its config, the corpus text,
the layer, direction and `CODE_VERSION`. npz written and read with `allow_pickle=False`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from rnnviz.analysis.corpus_stats import FEATURES, HISTOGRAM_EDGES, StatsAccumulator, token_features
from rnnviz.analysis.inspection import RECURRENT_PATH
from rnnviz.core.capture import capture
from rnnviz.core.quantities import SIGMOID_GATES, quantity_name
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel
from rnnviz.settings import shared_data_dir

CACHE_MB = 256  # the on-disk cache's bound (RNNVIZ_CORPUS_CACHE_MB) and its files' age
CACHE_DAYS = 30  # (RNNVIZ_CORPUS_CACHE_DAYS): the bundled corpora's indexes are rebuilt in seconds
CODE_VERSION = "corpus-1"  # bump when what is stored or how it is computed changes
CHUNK_CHARACTERS = 256
BATCH_SIZE = 32
TOP_K = 20
MAX_CORPUS_CHARACTERS = (
    250_000  # user corpora (upload or CLI file): ~2× the Shakespeare validation split
)
REFERENCE_CORPORA = {
    "language_model": ("shakespeare-validation",),
    "classifier": ("sst2-dev", "sst2-test"),
}
PROVIDE_CORPUS_HELP = (
    "Reference corpora are read from {data_dir}: tinyshakespeare/input.txt (its last 10 % is the LM's "
    "validation split) and sst2/dev.tsv, sst2/test.tsv (header 'sentence<TAB>label'). Put them there, set "
    "RNNVIZ_DATA_DIR, or use your own text file (one sentence per line for classifiers; any text for the "
    f"character LM; at most {MAX_CORPUS_CHARACTERS:,} characters)."
)

Progress = Callable[[int, int], None]  # (tokens done, tokens in all)


def default_data_dir() -> Path:
    """Where the reference corpora are read from (rnnviz.settings.shared_data_dir)."""
    return shared_data_dir()


@dataclass(frozen=True)
class Corpus:
    """Named text split into segments, each run from a fresh state (sentences, or LM chunks)."""

    name: str
    segments: tuple[str, ...]
    source: str = ""

    @property
    def characters(self) -> int:
        return sum(len(s) for s in self.segments)

    def digest(self) -> str:
        """sha256 of the segments (their boundaries included)."""
        hasher = hashlib.sha256()
        for segment in self.segments:
            encoded = segment.encode("utf-8")
            hasher.update(len(encoded).to_bytes(8, "little"))
            hasher.update(encoded)
        return hasher.hexdigest()


def corpus_from_text(
    text: str,
    task: str,
    name: str = "your text",
    source: str = "",
    chunk_characters: int = CHUNK_CHARACTERS,
) -> Corpus:
    """A user's text as a corpus: one sentence per non-empty line (classifiers) or fixed chunks (LM).

    A TSV whose first line has a `sentence` column (SST-2 layout) contributes that column.
    Refuses empty text and text over `MAX_CORPUS_CHARACTERS`.
    """
    if not text.strip():
        raise RnnvizError(f"{name}: the corpus is empty")
    if len(text) > MAX_CORPUS_CHARACTERS:
        raise RnnvizError(
            f"{name}: {len(text):,} characters; a corpus may have at most {MAX_CORPUS_CHARACTERS:,}"
        )
    if task == "language_model":
        segments = [text[i : i + chunk_characters] for i in range(0, len(text), chunk_characters)]
    else:
        lines = text.splitlines()
        header = lines[0].split("\t")
        if len(header) > 1 and "sentence" in header:
            column = header.index("sentence")
            lines = [row.split("\t")[column] for row in lines[1:] if len(row.split("\t")) > column]
        segments = [line.strip() for line in lines if line.strip()]
    return Corpus(name=name, segments=tuple(segments), source=source)


def read_corpus_file(path: str | Path, task: str) -> Corpus:
    """`corpus_from_text` of a UTF-8 file (the CLI's FILE)."""
    path = Path(path)
    if not path.is_file():
        raise RnnvizError(f"{path}: no such file")
    if path.stat().st_size > 4 * MAX_CORPUS_CHARACTERS:
        raise RnnvizError(
            f"{path}: {path.stat().st_size:,} bytes; a corpus may have at most {MAX_CORPUS_CHARACTERS:,} characters"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RnnvizError(f"{path}: not UTF-8 text ({error})") from None
    return corpus_from_text(text, task, name=path.name, source=str(path))


def reference_corpus(name: str, data_dir: str | Path | None = None) -> Corpus:
    """A bundled model's held-out split: shakespeare-validation (last 10 % of characters), sst2-dev, sst2-test."""
    data_dir = Path(data_dir or default_data_dir())
    if name == "shakespeare-validation":
        path = data_dir / "tinyshakespeare" / "input.txt"
        if not path.is_file():
            raise RnnvizError(f"{path} not found. " + PROVIDE_CORPUS_HELP.format(data_dir=data_dir))
        text = path.read_text(encoding="utf-8")
        held_out = text[
            int(len(text) * 0.9) :
        ]  # the split rnnviz.training.language_model validates the LM on
        chunks = tuple(
            held_out[i : i + CHUNK_CHARACTERS] for i in range(0, len(held_out), CHUNK_CHARACTERS)
        )
        return Corpus(name=name, segments=chunks, source=f"{path} (last 10 %)")
    if name in ("sst2-dev", "sst2-test"):
        path = data_dir / "sst2" / f"{name.split('-')[1]}.tsv"
        if not path.is_file():
            raise RnnvizError(f"{path} not found. " + PROVIDE_CORPUS_HELP.format(data_dir=data_dir))
        corpus = corpus_from_text(
            path.read_text(encoding="utf-8"), "classifier", name=name, source=str(path)
        )
        return corpus
    raise RnnvizError(
        f"unknown reference corpus {name!r}; known: {', '.join(sum(REFERENCE_CORPORA.values(), ()))}"
    )


def available_reference_corpora(task: str, data_dir: str | Path | None = None) -> list[str]:
    """The reference corpora of `task` whose files are present."""
    data_dir = Path(data_dir or default_data_dir())
    files = {
        "shakespeare-validation": data_dir / "tinyshakespeare" / "input.txt",
        "sst2-dev": data_dir / "sst2" / "dev.tsv",
        "sst2-test": data_dir / "sst2" / "test.tsv",
    }
    return [name for name in REFERENCE_CORPORA.get(task, ()) if files[name].is_file()]


@dataclass(frozen=True)
class GateSaturation:
    """Fractions of a gate's timesteps per unit below 0.1 (left) and above 0.9 (right)."""

    layer: int
    direction: str
    gate: str
    left: np.ndarray  # [units]
    right: np.ndarray  # [units]


@dataclass(frozen=True)
class Context:
    """A place in the corpus: its tokens and a unit's values over them; `focus` is the place itself."""

    position: int  # global token index
    value: float
    tokens: tuple[str, ...]
    values: np.ndarray  # the unit's h over `tokens`
    focus: int  # index of `position` within `tokens`


@dataclass(frozen=True)
class PatternMatch:
    """A corpus span where every selected unit is on (h ≥ threshold) and not on just before or after."""

    start: int  # global token index, inclusive
    end: int  # exclusive
    length_difference: int  # |span length − query length|
    purity: (
        float  # mean over the span of (selected units on) / (all units on): 1 = no other unit on
    )


@dataclass(frozen=True)
class CorpusIndex:
    """What the corpus views need of one model × corpus × layer × direction (see the module docstring)."""

    model: str
    corpus: str
    key: str
    cell: str
    layer: int
    direction: str
    tokens: np.ndarray  # [N] str: every token of the corpus, segments concatenated
    offsets: np.ndarray  # [segments + 1]: segment s is tokens[offsets[s]:offsets[s + 1]]
    features: np.ndarray  # [N, len(FEATURES)] float32 token features (rnnviz.analysis.corpus_stats)
    hidden: np.ndarray  # [N, units] float16: h of this layer and direction
    mean: np.ndarray  # [units] (from float32 values, not the float16 copy)
    std: np.ndarray  # [units]
    histogram: np.ndarray  # [units, bins] counts of h in HISTOGRAM_EDGES
    histogram_edges: np.ndarray  # [bins + 1]
    feature_correlation: np.ndarray  # [features, units] Pearson ρ
    unit_correlation: np.ndarray  # [units, units] Pearson ρ
    top_values: (
        np.ndarray
    )  # [units, k] each unit's k largest h, at most one per segment, best first
    top_positions: np.ndarray  # [units, k] global token index of each
    saturation: tuple[GateSaturation, ...]  # every layer and direction's sigmoid gates
    seconds: float  # time it took to compute (not to read from the cache)
    from_cache: bool = False

    @property
    def units(self) -> int:
        return self.hidden.shape[1]

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURES

    def segment_of(self, position: int) -> int:
        return int(np.searchsorted(self.offsets, position, side="right") - 1)

    def context(self, position: int, unit: int, before: int = 40, after: int = 10) -> Context:
        """Tokens around `position` within its segment and unit `unit`'s values over them."""
        segment = self.segment_of(position)
        start = max(int(self.offsets[segment]), position - before)
        end = min(int(self.offsets[segment + 1]), position + after + 1)
        return Context(
            position=position,
            value=float(self.hidden[position, unit]),
            tokens=tuple(str(t) for t in self.tokens[start:end]),
            values=self.hidden[start:end, unit].astype(np.float32),
            focus=position - start,
        )

    def top_contexts(
        self, unit: int, k: int = 10, before: int = 40, after: int = 10
    ) -> list[Context]:
        """The k places where unit `unit` is highest (one per segment), best first."""
        return [self.context(int(p), unit, before, after) for p in self.top_positions[unit, :k]]

    def top_units(self, feature: str, k: int = 5) -> np.ndarray:
        """Units most correlated with a token feature, by |ρ| (largest first)."""
        row = self.feature_correlation[FEATURES.index(feature)]
        return np.argsort(-np.abs(row), kind="stable")[:k]

    def saturation_of(self, layer: int, direction: str) -> list[GateSaturation]:
        return [s for s in self.saturation if s.layer == layer and s.direction == direction]

    def find_pattern(
        self, units: np.ndarray, threshold: float, length: int, limit: int = 20
    ) -> list[PatternMatch]:
        """Maximal corpus spans where all `units` are ≥ threshold, ranked by length difference, then purity.

        LSTMVis's match step: spans never cross a segment boundary.
        """
        units = np.asarray(units, dtype=np.int64)
        if units.size == 0:
            return []
        hidden = self.hidden
        on = (hidden[:, units] >= threshold).all(axis=1)
        starts_segment = np.zeros(len(on), dtype=bool)
        starts_segment[self.offsets[:-1][self.offsets[:-1] < len(on)]] = True
        previous = np.concatenate([[False], on[:-1]]) & ~starts_segment
        following_starts = np.concatenate([starts_segment[1:], [True]])
        following = np.concatenate([on[1:], [False]]) & ~following_starts
        starts = np.flatnonzero(on & ~previous)
        ends = np.flatnonzero(on & ~following) + 1
        matches = []
        for start, end in zip(starts, ends):
            all_on = (hidden[start:end] >= threshold).sum(axis=1)
            purity = float(np.mean(len(units) / np.maximum(all_on, 1)))
            matches.append(
                PatternMatch(int(start), int(end), abs(int(end - start) - length), purity)
            )
        matches.sort(key=lambda m: (m.length_difference, -m.purity, m.start))
        return matches[:limit]


def select_units(values: np.ndarray, start: int, end: int, threshold: float) -> np.ndarray:
    """Units on (≥ threshold) at every step of [start, end] (inclusive) and off at the steps just outside.

    `values` is [time, units], the current sentence's h. LSTMVis's select step.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=-np.inf)
    selected = (values[start : end + 1] >= threshold).all(axis=0)
    for outside in (start - 1, end + 1):
        if 0 <= outside < len(values):
            selected &= values[outside] < threshold
    return np.flatnonzero(selected)


def cache_key(
    loaded: LoadedModel, corpus: Corpus, layer: int, direction: str, top_k: int = TOP_K
) -> str:
    """sha256 over the weights, config, corpus text, choice and code version."""
    hasher = hashlib.sha256()
    head = dict(
        code=CODE_VERSION,
        config=loaded.config.to_dict(),
        corpus=corpus.digest(),
        layer=layer,
        direction=direction,
        top_k=top_k,
        tokenizer=loaded.tokenizer.to_dict(),
    )
    hasher.update(json.dumps(head, sort_keys=True, default=str).encode("utf-8"))
    for name, tensor in sorted(loaded.module.state_dict().items()):
        hasher.update(name.encode("utf-8"))
        hasher.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return hasher.hexdigest()


def default_cache_dir() -> Path:
    root = os.environ.get("RNNVIZ_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "rnnviz") / "corpus"


def corpus_index(
    loaded: LoadedModel,
    corpus: Corpus,
    layer: int = 0,
    direction: str = "forward",
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    top_k: int = TOP_K,
) -> CorpusIndex:
    """The corpus statistics of one layer and direction; read from the cache when present, else computed and cached."""
    config = loaded.config
    if not 0 <= layer < config.num_layers:
        raise RnnvizError(f"layer {layer} does not exist; {config.name} has {config.num_layers}")
    if direction not in ("forward", "backward")[: config.num_directions]:
        raise RnnvizError(f"direction {direction!r} does not exist in {config.name}")
    key = cache_key(loaded, corpus, layer, direction, top_k)
    path = Path(cache_dir or default_cache_dir()) / f"{key}.npz"
    if use_cache and path.is_file():
        try:
            return _read(path)
        except (OSError, ValueError, KeyError):
            pass  # a damaged or foreign file: recompute and overwrite
    index = compute_corpus_index(
        loaded,
        corpus,
        layer,
        direction,
        key=key,
        progress=progress,
        batch_size=batch_size,
        top_k=top_k,
    )
    if use_cache:
        _write(index, path)
    return index


def encode_corpus(loaded: LoadedModel, corpus: Corpus) -> list:
    """The segments' encodings (segments without tokens dropped)."""
    encodings = [e for e in (loaded.encode(segment) for segment in corpus.segments) if len(e.ids)]
    if not encodings:
        raise RnnvizError(f"{corpus.name}: no tokens the model can read")
    return encodings


def corpus_batches(encodings: list, batch_size: int = BATCH_SIZE):
    """(segment indices, ids [B, T] zero-padded, lengths [B]) per batch; similar lengths share a batch."""
    lengths = np.array([len(e.ids) for e in encodings])
    order = np.argsort(-lengths, kind="stable")
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        ids = torch.zeros((len(batch), int(lengths[batch].max())), dtype=torch.int64)
        for row, s in enumerate(batch):
            ids[row, : lengths[s]] = torch.tensor(encodings[s].ids)
        yield batch, ids, torch.from_numpy(lengths[batch].astype(np.int64))


def recorded_names(layer: int, direction: str) -> list[str]:
    """What a corpus index reads from each batch's trace: the σ gates of every layer and direction
    (gate saturation) and h of the chosen one. Capturing only these skips rebuilding the tanh
    candidate and the cell state, about a quarter of the work."""
    return [f"{RECURRENT_PATH}.layer*.*.{gate}" for gate in sorted(SIGMOID_GATES)] + [
        quantity_name(RECURRENT_PATH, layer, direction, "hidden")
    ]


def run_batch(loaded: LoadedModel, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The model's own forward on a padded batch: classifiers pack by `lengths`; the LM is causal, so
    padding after a sequence cannot change its earlier steps (padded steps are ignored afterwards)."""
    if loaded.config.task == "language_model":
        return loaded.module(ids)
    return loaded.module(ids, lengths)


def compute_corpus_index(
    loaded: LoadedModel,
    corpus: Corpus,
    layer: int = 0,
    direction: str = "forward",
    *,
    key: str = "",
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    top_k: int = TOP_K,
) -> CorpusIndex:
    """Run the corpus through `loaded` in batches inside `capture` and stream the statistics (no cache)."""
    began = time.perf_counter()
    characters = loaded.config.task == "language_model"
    encodings = encode_corpus(loaded, corpus)
    lengths = np.array([len(e.ids) for e in encodings])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(offsets[-1])
    units = loaded.config.hidden_size
    tokens = np.array([t for e in encodings for t in e.tokens], dtype=str)
    features = np.concatenate([token_features(e.tokens, characters) for e in encodings])
    hidden = np.zeros((total, units), dtype=np.float16)
    stats = StatsAccumulator(units=units, top_k=top_k)
    done = 0
    for batch, ids, length_tensor in corpus_batches(encodings, batch_size):
        batch_lengths = lengths[batch]
        steps = ids.shape[1]
        with (
            torch.no_grad(),
            capture(loaded.module, only=recorded_names(layer, direction)) as trace,
        ):
            run_batch(loaded, ids, length_tensor)
        record = trace.call(RECURRENT_PATH)
        valid = torch.arange(steps).unsqueeze(0) < length_tensor.unsqueeze(1)
        full = bool(valid.all())
        segment_ids = np.repeat(batch, batch_lengths)
        positions = np.concatenate([np.arange(offsets[s], offsets[s] + lengths[s]) for s in batch])

        def rows(name: str, full: bool = full, valid: np.ndarray = valid) -> np.ndarray:
            value = trace[name]
            value = value.reshape(-1, value.shape[-1]) if full else value[valid]
            return value.numpy()

        for k in range(record.num_layers):
            for d in record.directions:
                for quantity in record.quantities:
                    if quantity in SIGMOID_GATES:
                        stats.add_gate(f"{k}.{d}.{quantity}", rows(record.name(k, d, quantity)))
        chosen = rows(record.name(layer, direction, "hidden"))
        stats.add_hidden(chosen, features[positions], segment_ids, positions)
        hidden[positions] = chosen
        done += int(batch_lengths.sum())
        if progress is not None:
            progress(done, total)
    mean, std = stats.mean_std()
    saturation = []
    for name in stats.gate_counts:
        k, d, gate = name.split(".")
        left, right = stats.saturation(name)
        saturation.append(GateSaturation(int(k), d, gate, left, right))
    return CorpusIndex(
        model=loaded.name,
        corpus=corpus.name,
        key=key,
        cell=record.cell,
        layer=layer,
        direction=direction,
        tokens=tokens,
        offsets=offsets,
        features=features,
        hidden=hidden,
        mean=mean,
        std=std,
        histogram=stats.histogram,
        histogram_edges=HISTOGRAM_EDGES.copy(),
        feature_correlation=stats.feature_correlation(),
        unit_correlation=stats.unit_correlation(),
        top_values=stats.top_values,
        top_positions=stats.top_positions,
        saturation=tuple(saturation),
        seconds=time.perf_counter() - began,
    )


_ARRAYS = (
    "tokens",
    "offsets",
    "features",
    "hidden",
    "mean",
    "std",
    "histogram",
    "histogram_edges",
    "feature_correlation",
    "unit_correlation",
    "top_values",
    "top_positions",
)


def _write(index: CorpusIndex, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(
        model=index.model,
        corpus=index.corpus,
        key=index.key,
        cell=index.cell,
        layer=index.layer,
        direction=index.direction,
        seconds=index.seconds,
        saturation=[[s.layer, s.direction, s.gate] for s in index.saturation],
    )
    arrays = {name: getattr(index, name) for name in _ARRAYS}
    for i, s in enumerate(index.saturation):
        arrays[f"saturation_{i}"] = np.stack([s.left, s.right])
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with open(partial, "wb") as file:
        np.savez(file, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(partial, path)  # readers never see a half-written file
    prune_cache(path.parent)


def prune_cache(
    directory: Path, max_bytes: int | None = None, max_age_seconds: float | None = None
) -> list[Path]:
    """Remove the cache's files older than `max_age_seconds`, then the least recently written until
    the rest hold at most `max_bytes` (defaults: RNNVIZ_CORPUS_CACHE_MB, RNNVIZ_CORPUS_CACHE_DAYS);
    every pasted corpus writes a file, and nothing else would ever remove them. Returns the removed."""
    if max_bytes is None:
        max_bytes = int(float(os.environ.get("RNNVIZ_CORPUS_CACHE_MB", CACHE_MB)) * 2**20)
    if max_age_seconds is None:
        max_age_seconds = float(os.environ.get("RNNVIZ_CORPUS_CACHE_DAYS", CACHE_DAYS)) * 86400
    now = time.time()
    files = []
    for path in directory.glob("*.npz"):
        try:
            status = path.stat()
        except OSError:
            continue  # another process removed it
        files.append((status.st_mtime, status.st_size, path))
    files.sort(reverse=True)  # newest first: they stay
    removed, kept_bytes = [], 0
    for modified, size, path in files:
        if now - modified > max_age_seconds or kept_bytes + size > max_bytes:
            path.unlink(missing_ok=True)
            removed.append(path)
        else:
            kept_bytes += size
    return removed


def _read(path: Path) -> CorpusIndex:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {name: data[name] for name in _ARRAYS}
        saturation = tuple(
            GateSaturation(k, d, gate, *data[f"saturation_{i}"])
            for i, (k, d, gate) in enumerate(meta["saturation"])
        )
    return CorpusIndex(
        model=meta["model"],
        corpus=meta["corpus"],
        key=meta["key"],
        cell=meta["cell"],
        layer=meta["layer"],
        direction=meta["direction"],
        saturation=saturation,
        seconds=meta["seconds"],
        from_cache=True,
        **arrays,
    )


@dataclass(frozen=True)
class CorpusSummary:
    """The CLI's printout as data: saturation means per gate and the top units per feature."""

    saturation: tuple[
        tuple[int, str, str, float, float], ...
    ]  # layer, direction, gate, mean left, mean right
    top_units: dict[str, tuple[tuple[int, float], ...]]  # feature → (unit, ρ) by |ρ|


def summarize(index: CorpusIndex, k: int = 5) -> CorpusSummary:
    saturation = tuple(
        (s.layer, s.direction, s.gate, float(s.left.mean()), float(s.right.mean()))
        for s in index.saturation
    )
    top = {
        f: tuple((int(u), float(index.feature_correlation[i, u])) for u in index.top_units(f, k))
        for i, f in enumerate(FEATURES)
    }
    return CorpusSummary(saturation=saturation, top_units=top)
