"""A model a person uploads (model.safetensors + config.json), checked before anything is built.

Nothing is unpickled: the weights are read by safetensors (a flat header + raw tensor
bytes) and the config by the JSON parser. Every way an upload can be wrong gets a message
naming the problem, raised as `ModelError`.
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

from rnnviz.errors import ModelError
from rnnviz.models import CONFIG_FILE, WEIGHTS_FILE, LoadedModel, load

MAX_WEIGHTS_BYTES = 100 * 1024 * 1024  # documented limit of an uploaded model.safetensors
MAX_CONFIG_BYTES = 10 * 1024 * 1024  # config.json, vocabulary included
MAX_VOCABULARY = 200_000


def check_config_bytes(data: bytes) -> dict:
    """Parse config.json and check what the loader does not: size and vocabulary."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelError(f"config.json is {len(data) / 1e6:.1f} MB; the limit is {MAX_CONFIG_BYTES // 1024 // 1024} MB")
    try:
        payload = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelError("config.json is not text (expected UTF-8 JSON) — is it the weights file?") from None
    except json.JSONDecodeError as error:
        raise ModelError(f"config.json is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), dict):
        raise ModelError("config.json must be an object with 'model' and 'tokenizer' entries (see pretrained/*/config.json)")
    vocab_size = payload["model"].get("vocab_size")
    if isinstance(vocab_size, int) and vocab_size > MAX_VOCABULARY:
        raise ModelError(f"the vocabulary has {vocab_size:,} entries; the limit is {MAX_VOCABULARY:,}")
    return payload


def check_weights_bytes(data: bytes) -> None:
    """Check the safetensors framing: an 8-byte header length, then that many bytes of JSON."""
    if len(data) > MAX_WEIGHTS_BYTES:
        raise ModelError(f"model.safetensors is {len(data) / 1e6:.0f} MB; the limit is {MAX_WEIGHTS_BYTES // 1024 // 1024} MB")
    if len(data) < 8:
        raise ModelError("model.safetensors is truncated (shorter than its 8-byte header)")
    if data[:2] == b"PK" or data[:1] == b"\x80":
        raise ModelError("this is a pickled PyTorch file (torch.save), which rnnviz never loads; save with safetensors.torch.save_file")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > len(data) - 8:
        raise ModelError("model.safetensors is truncated or corrupt (its header is longer than the file)")
    try:
        header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError("model.safetensors is not a safetensors file (its header is not JSON)") from None
    end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    if 8 + header_length + end > len(data):
        raise ModelError("model.safetensors is truncated: its tensors end past the end of the file")


def load_upload(config: bytes, weights: bytes) -> LoadedModel:
    """Validate both files and load them, as the bundled models are loaded, from a private folder."""
    check_config_bytes(config)
    check_weights_bytes(weights)
    with tempfile.TemporaryDirectory(prefix="rnnviz-upload-") as folder:
        (Path(folder) / CONFIG_FILE).write_bytes(config)
        (Path(folder) / WEIGHTS_FILE).write_bytes(weights)
        try:
            loaded = load(folder)
        except ModelError as error:
            raise ModelError(str(error).replace(f"{folder}/", "").replace(folder, "the upload")) from None
    return LoadedModel(config=loaded.config, tokenizer=loaded.tokenizer, module=loaded.module, folder=None)
