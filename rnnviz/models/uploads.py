"""A model a person uploads (model.safetensors + config.json), checked before anything is built.

Nothing is unpickled: the weights are read by safetensors (a flat header + raw tensor bytes) and
the config by the JSON parser. The checks run in an order that keeps a refused upload cheap:
both files' structure first (every field's type and range, every header entry's dtype, shape and
byte range), then the declared architecture — its parameter count and every weight's name and
shape, computed from the config — against the header, and only then are tensors read and the
module built. Every way an upload can be wrong gets one message naming the problem, raised as
`ModelError`; anything unforeseen that escapes the checks becomes a `ModelError` too.
"""

from __future__ import annotations

import json
import logging
import math
import reprlib
import struct
from dataclasses import dataclass
from typing import Any

from rnnviz.errors import ModelError
from rnnviz.models.architectures import (
    CONFIG_FILE,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    LoadedModel,
    ModelConfig,
    architecture_shapes,
    check_weight_shapes,
    config_from_payload,
    module_from_tensors,
)
from rnnviz.models.tokenizers import PAD, UNK, WORD_STYLES, Tokenizer

MAX_WEIGHTS_BYTES = 100 * 1024 * 1024  # documented limits (README, "Your own model")
MAX_CONFIG_BYTES = 10 * 1024 * 1024  # config.json, vocabulary included
MAX_HEADER_BYTES = 256 * 1024  # the safetensors header; a 64-layer model's needs about 60 kB
MAX_PARAMETERS = 50_000_000
MAX_VOCABULARY = 200_000
MAX_LAYERS = 64
MAX_LABELS = 1_000
MAX_NAME_CHARACTERS = 200
MAX_DESCRIPTION_CHARACTERS = 10_000
MAX_TENSOR_RANK = 8
# JSON values a config may hold: its vocabulary, its labels, every other field, with room to spare.
# Parsing costs up to ~60 bytes per value, whatever the text: bounding their number bounds the parse.
MAX_CONFIG_VALUES = MAX_VOCABULARY + MAX_LABELS + 50_000

# Bits per element of every dtype the safetensors format defines.
SAFETENSORS_DTYPE_BITS = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
WEIGHT_DTYPES = ("F32", "F16", "BF16", "F64")  # what a model's weights can be stored as

_MODEL_FIELDS = tuple(ModelConfig.__dataclass_fields__)
_REQUIRED_MODEL_FIELDS = (
    "name",
    "description",
    "task",
    "cell",
    "vocab_size",
    "embedding_dim",
    "hidden_size",
)
_TOKENIZER_FIELDS = ("type", "vocab", "style", "lowercase")
_quoting = reprlib.Repr()
_quoting.maxstring, _quoting.maxother, _quoting.maxlong, _quoting.maxlist, _quoting.maxdict = (
    40,
    40,
    20,
    4,
    4,
)

log = logging.getLogger(__name__)


def _shown(value: Any) -> str:
    """A value as a message quotes it: short, however large or deeply nested it is."""
    text = _quoting.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class HeaderEntry:
    """One tensor as the safetensors header declares it; offsets count from the end of the header."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def load_upload(config: bytes, weights: bytes) -> LoadedModel:
    """Validate both files and build the model they describe; every refusal is a `ModelError`."""
    try:
        return _load_upload(config, weights)
    except ModelError:
        raise
    except (
        Exception
    ) as error:  # the page shows ModelErrors; an upload must never reach it as a traceback
        log.warning("an upload escaped the checks", exc_info=True)
        raise ModelError(
            f"the upload could not be read ({type(error).__name__}: {_shown(str(error))})"
        ) from None


def _load_upload(config_bytes: bytes, weights_bytes: bytes) -> LoadedModel:
    from safetensors.torch import load as load_safetensors

    config, tokenizer = check_config_bytes(config_bytes)
    header = check_weights_bytes(weights_bytes)
    check_architecture(config, header)
    try:
        module = module_from_tensors(config, load_safetensors(weights_bytes))
    except ModelError as error:
        raise ModelError(f"{WEIGHTS_FILE}: {error}") from None
    return LoadedModel(config=config, tokenizer=tokenizer, module=module, folder=None)


def check_architecture(config: ModelConfig, header: dict[str, HeaderEntry]) -> None:
    """Refuse an architecture above the parameter limit, or one whose weights the header does not hold."""
    expected = architecture_shapes(config)
    parameters = sum(math.prod(shape) for shape in expected.values())
    if parameters > MAX_PARAMETERS:
        raise ModelError(
            f"{CONFIG_FILE} declares a model of {parameters:,} parameters; "
            f"an upload can have at most {MAX_PARAMETERS:,}"
        )
    try:
        check_weight_shapes(expected, {name: entry.shape for name, entry in header.items()})
    except ModelError as error:
        raise ModelError(f"{WEIGHTS_FILE}: {error}") from None
    for name, entry in header.items():
        if entry.dtype not in WEIGHT_DTYPES:
            raise ModelError(
                f"{WEIGHTS_FILE}: tensor {name!r} is stored as {entry.dtype}; "
                f"weights must be one of {', '.join(WEIGHT_DTYPES)}"
            )


def _parse_json(data: bytes, what: str) -> Any:
    """JSON with one meaning per key: a key written twice is refused, not silently overwritten."""

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        unique = dict(pairs)
        if len(unique) != len(pairs):
            seen: set[str] = set()
            repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
            raise ModelError(f"{what} names {_shown(repeated)} twice")
        return unique

    text = data.decode("utf-8")
    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as error:
        raise ModelError(
            f"{what} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    except ValueError as error:  # e.g. an integer longer than Python converts (4,300 digits)
        raise ModelError(f"{what} is not valid JSON: {error}") from None
    except RecursionError:
        raise ModelError(f"{what} is nested too deeply to be a model's") from None


def check_config_bytes(data: bytes) -> tuple[ModelConfig, Tokenizer]:
    """The config and tokenizer of an uploaded config.json, every field's type and range checked."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelError(
            f"{CONFIG_FILE} is {len(data) / 1e6:.1f} MB; "
            f"the limit is {MAX_CONFIG_BYTES // 1024 // 1024} MB"
        )
    values = (
        data.count(b",") + data.count(b"[") + data.count(b"{") + 1
    )  # at least as many as the JSON holds
    if values > MAX_CONFIG_VALUES:
        raise ModelError(
            f"{CONFIG_FILE} holds too many values (up to {values:,}) to be a model's config, "
            f"whose vocabulary has at most {MAX_VOCABULARY:,} entries"
        )
    try:
        payload = _parse_json(data, CONFIG_FILE)
    except UnicodeDecodeError:
        raise ModelError(
            f"{CONFIG_FILE} is not text (expected UTF-8 JSON) — is it the weights file?"
        ) from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("model"), dict)
        or not isinstance(payload.get("tokenizer"), dict)
    ):
        raise ModelError(
            f"{CONFIG_FILE} must be an object with 'model' and 'tokenizer' objects "
            "(see pretrained/*/config.json)"
        )
    problems = _config_problems(payload)
    if problems:
        more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
        raise ModelError(f"{CONFIG_FILE}: " + "; ".join(problems[:3]) + more)
    try:
        return config_from_payload(payload)
    except ModelError as error:
        raise ModelError(f"{CONFIG_FILE}: {error}") from None


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_integer(value) or (isinstance(value, float) and math.isfinite(value))


def _config_problems(payload: dict[str, Any]) -> list[str]:
    problems = []
    unknown = [key for key in payload if key not in ("format_version", "model", "tokenizer")]
    if unknown:
        problems.append(f"unknown entries {_shown(unknown)}")
    if "format_version" in payload and not (
        _is_integer(payload["format_version"]) and payload["format_version"] == FORMAT_VERSION
    ):
        problems.append(
            f"format_version must be {FORMAT_VERSION}, got {_shown(payload['format_version'])}"
        )
    model, tokenizer = payload["model"], payload["tokenizer"]
    unknown = [key for key in model if key not in _MODEL_FIELDS]
    if unknown:
        problems.append(f"model has unknown entries {_shown(unknown)}")
    missing = [key for key in _REQUIRED_MODEL_FIELDS if key not in model]
    if missing:
        problems.append(f"model lacks {', '.join(missing)}")

    def check(key: str, valid: bool, wanted: str) -> None:
        if key in model and not valid:
            problems.append(f"model.{key} must be {wanted}, got {_shown(model[key])}")

    def integer_in(key: str, low: int, high: int | None) -> None:
        value = model.get(key)
        check(
            key,
            _is_integer(value) and value >= low and (high is None or value <= high),
            f"an integer from {low:,}" + (f" to {high:,}" if high is not None else " up"),
        )

    check(
        "name",
        isinstance(model.get("name"), str)
        and 0 < len(model["name"].strip()) <= MAX_NAME_CHARACTERS,
        f"a non-empty text of at most {MAX_NAME_CHARACTERS} characters",
    )
    check(
        "description",
        isinstance(model.get("description"), str)
        and len(model["description"]) <= MAX_DESCRIPTION_CHARACTERS,
        f"a text of at most {MAX_DESCRIPTION_CHARACTERS:,} characters",
    )
    check(
        "task",
        model.get("task") in ("classifier", "language_model"),
        "'classifier' or 'language_model'",
    )
    check("cell", model.get("cell") in ("lstm", "gru", "rnn"), "one of 'gru', 'lstm', 'rnn'")
    integer_in("vocab_size", 2, MAX_VOCABULARY)
    integer_in("embedding_dim", 1, None)  # sizes are bounded by the parameter count
    integer_in("hidden_size", 1, None)
    integer_in("num_layers", 1, MAX_LAYERS)
    check("bidirectional", isinstance(model.get("bidirectional"), bool), "true or false")
    check(
        "dropout",
        _is_number(model.get("dropout")) and 0 <= model["dropout"] < 1,
        "a number in [0, 1)",
    )
    labels = model.get("labels")
    check(
        "labels",
        isinstance(labels, list)
        and len(labels) <= MAX_LABELS
        and all(isinstance(x, str) for x in labels),
        f"a list of at most {MAX_LABELS:,} texts",
    )
    metrics = model.get("metrics")
    check(
        "metrics",
        isinstance(metrics, dict) and all(_is_number(v) for v in metrics.values()),
        "an object of names to finite numbers",
    )

    unknown = [key for key in tokenizer if key not in _TOKENIZER_FIELDS]
    if unknown:
        problems.append(f"tokenizer has unknown entries {_shown(unknown)}")
    if tokenizer.get("type") not in ("char", "word"):
        problems.append(
            f"tokenizer.type must be 'char' or 'word', got {_shown(tokenizer.get('type'))}"
        )
    if "style" in tokenizer and tokenizer["style"] not in WORD_STYLES:
        problems.append(
            f"tokenizer.style must be one of {', '.join(WORD_STYLES)}, got {_shown(tokenizer['style'])}"
        )
    if "lowercase" in tokenizer and tokenizer["lowercase"] is not True:
        problems.append(
            f"tokenizer.lowercase can only be true, got {_shown(tokenizer['lowercase'])}"
        )
    vocab = tokenizer.get("vocab")
    if not isinstance(vocab, list) or not all(isinstance(entry, str) for entry in vocab):
        problems.append(f"tokenizer.vocab must be a list of texts, got {_shown(vocab)}")
    elif len(vocab) > MAX_VOCABULARY:
        problems.append(
            f"the vocabulary has {len(vocab):,} entries; the limit is {MAX_VOCABULARY:,}"
        )
    elif vocab[:2] != [PAD, UNK]:
        problems.append(
            f"tokenizer.vocab must start with {PAD!r}, {UNK!r}, got {_shown(vocab[:2])}"
        )
    elif len(set(vocab)) != len(vocab):
        problems.append("tokenizer.vocab lists an entry twice")
    return problems


def check_weights_bytes(data: bytes) -> dict[str, HeaderEntry]:
    """The tensors a safetensors file declares, its header's structure checked entry by entry.

    The header is an 8-byte little-endian length and that many bytes of JSON: an object of
    ``name: {dtype, shape, data_offsets}`` (plus an optional ``__metadata__`` of texts), whose byte
    ranges tile the rest of the file exactly, each as long as its shape and dtype need.
    """
    if len(data) > MAX_WEIGHTS_BYTES:
        raise ModelError(
            f"{WEIGHTS_FILE} is {len(data) / 1e6:.0f} MB; "
            f"the limit is {MAX_WEIGHTS_BYTES // 1024 // 1024} MB"
        )
    if len(data) < 8:
        raise ModelError(f"{WEIGHTS_FILE} is truncated (shorter than its 8-byte header)")
    (header_length,) = struct.unpack("<Q", data[:8])
    framed = (
        header_length <= len(data) - 8 and data[8:9] == b"{"
    )  # a header of length 384 also starts with 0x80
    if not framed and (data[:2] == b"PK" or data[:1] == b"\x80"):
        raise ModelError(
            "this is a pickled PyTorch file (torch.save), which rnnviz never loads; "
            "save with safetensors.torch.save_file"
        )
    if header_length > len(data) - 8:
        raise ModelError(
            f"{WEIGHTS_FILE} is truncated or corrupt (its header is longer than the file)"
        )
    if header_length > MAX_HEADER_BYTES:
        raise ModelError(
            f"the header of {WEIGHTS_FILE} is {header_length:,} bytes; the limit is {MAX_HEADER_BYTES:,}"
        )
    header_bytes = data[8 : 8 + header_length]
    try:
        header = _parse_json(header_bytes, f"the header of {WEIGHTS_FILE}")
    except UnicodeDecodeError:
        raise ModelError(
            f"{WEIGHTS_FILE} is not a safetensors file (its header is not JSON)"
        ) from None
    if not isinstance(header, dict) or not header_bytes.startswith(b"{"):
        raise ModelError(
            f"the header of {WEIGHTS_FILE} must be a JSON object of tensors (starting with '{{'), "
            f"got {_shown(header)}"
        )
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(value, str) for value in metadata.values()
    ):
        raise ModelError(
            f"{WEIGHTS_FILE}: __metadata__ must be an object of texts, got {_shown(metadata)}"
        )
    entries = {name: _header_entry(name, entry) for name, entry in header.items()}
    _check_tiling(entries, len(data) - 8 - header_length)
    return entries


def _header_entry(name: str, entry: Any) -> HeaderEntry:
    where = f"{WEIGHTS_FILE}: tensor {_shown(name)}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ModelError(
            f"{where} must be an object of exactly dtype, shape and data_offsets, got {_shown(entry)}"
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPE_BITS:
        raise ModelError(f"{where} has dtype {_shown(dtype)}, which safetensors does not define")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_TENSOR_RANK
        or not all(_is_integer(size) and 0 <= size < 2**63 for size in shape)
    ):
        raise ModelError(
            f"{where}: shape must be a list of at most {MAX_TENSOR_RANK} integers from 0 to 2⁶³ − 1, "
            f"got {_shown(shape)}"
        )
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_integer(offset) for offset in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise ModelError(
            f"{where}: data_offsets must be two integers [begin, end] with 0 ≤ begin ≤ end, "
            f"got {_shown(offsets)}"
        )
    bits = math.prod(shape) * SAFETENSORS_DTYPE_BITS[dtype]
    if bits != 8 * (offsets[1] - offsets[0]):
        needed = f"{bits // 8:,}" if bits % 8 == 0 else f"{bits / 8:,}"
        raise ModelError(
            f"{where}: shape {_shown(shape)} of {dtype} needs {needed} bytes, "
            f"but data_offsets span {offsets[1] - offsets[0]:,}"
        )
    return HeaderEntry(dtype=dtype, shape=tuple(shape), begin=offsets[0], end=offsets[1])


def _check_tiling(entries: dict[str, HeaderEntry], data_bytes: int) -> None:
    """The tensors' byte ranges follow one another from 0 to the end of the file, no gap, no overlap."""
    position = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin != position:
            problem = (
                "overlaps the tensor before it"
                if entry.begin < position
                else "leaves a gap before it"
            )
            raise ModelError(
                f"{WEIGHTS_FILE}: tensor {_shown(name)} starts at byte {entry.begin:,} and {problem}"
            )
        position = entry.end
    if position > data_bytes:
        raise ModelError(
            f"{WEIGHTS_FILE} is truncated: its tensors end past the end of the file "
            f"({position:,} bytes declared, {data_bytes:,} present)"
        )
    if position < data_bytes:
        raise ModelError(
            f"{WEIGHTS_FILE} has {data_bytes - position:,} bytes after its last tensor"
        )
