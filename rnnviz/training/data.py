"""Reading the training data: SST-2 and user tables (CSV/TSV with a header), AG News, the char LM's
text; a seeded dev hold-out; the data files' hashes for the model card; word ids in padded batches."""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path
from typing import Iterator, Sequence

import torch

from rnnviz.errors import DataError
from rnnviz.models.tokenizers import PAD_ID, WordTokenizer
from rnnviz.settings import shared_data_dir

DEFAULT_DATA_DIR = shared_data_dir()
"""rnnviz.settings.shared_data_dir() when this module is read (override with ``--data-dir``)."""

EncodedRows = list[tuple[list[int], int]]  # (word ids, label)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataError(
            f"data file not found: {path} (pass --data-dir to point at the shared data folder)"
        )
    return path


def read_table(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """Read (text, label) rows from a CSV or TSV file with a header (delimiter sniffed from the extension)."""
    require_file(path)
    delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(
            f, delimiter=delim, quoting=csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL
        )
        cols = reader.fieldnames or []
        for c in (text_column, label_column):
            if c not in cols:
                raise DataError(f"{path}: no column {c!r} (columns: {', '.join(cols) or 'none'})")
        rows = []
        for i, r in enumerate(reader, start=2):
            text, label = r.get(text_column), r.get(label_column)
            if text is None or label is None:
                raise DataError(f"{path}:{i}: row has too few fields")
            rows.append((text, label.strip()))
    if not rows:
        raise DataError(f"{path}: no data rows")
    return rows


def read_sst2(path: Path) -> list[tuple[str, int]]:
    rows = read_table(path, "sentence", "label")
    try:
        return [(t, int(y)) for t, y in rows]
    except ValueError as e:
        raise DataError(f"{path}: SST-2 labels must be 0/1 ({e})") from None


def read_agnews(path: Path, titles_only: bool = False) -> list[tuple[str, int]]:
    """AG News rows as (text, label): ``label<TAB>text`` (the train sample) or ``label<TAB>title<TAB>description``
    (the official test split), where the text a model reads is title + " " + description."""
    require_file(path)
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header not in (["label", "text"], ["label", "title", "description"]):
            raise DataError(
                f"{path}: expected columns label, text or label, title, description; got {header}"
            )
        if titles_only and header[1] != "title":
            raise DataError(
                f"{path}: has no title column, so titles-only text cannot be read from it"
            )
        for number, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header) or fields[0] not in ("0", "1", "2", "3"):
                raise DataError(f"{path}:{number}: expected {len(header)} fields and a label 0-3")
            text = fields[1] if titles_only or len(fields) == 2 else fields[1] + " " + fields[2]
            rows.append((text, int(fields[0])))
    return rows


def hold_out(rows: list[tuple[str, int]], fraction: float, seed: int) -> tuple[list, list]:
    """(train, dev): a seeded random ``fraction`` of ``rows`` as dev, the rest (in file order) as train."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    dev_index = set(order[: max(1, round(len(rows) * fraction))])
    return (
        [r for i, r in enumerate(rows) if i not in dev_index],
        [rows[i] for i in sorted(dev_index)],
    )


def encode_rows(tok: WordTokenizer, rows: Sequence[tuple[str, int]]) -> EncodedRows:
    """(text, label) rows as (word ids, label); an empty text becomes a single <unk>."""
    out = []
    for text, label in rows:
        ids = tok.encode(text).ids or [1]
        out.append((ids, label))
    return out


def batches(
    data: EncodedRows, batch_size: int, shuffle: bool, rng: random.Random
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(ids padded with <pad> [batch, longest], lengths, labels) per batch; shuffled by ``rng`` when
    the first batch is asked for."""
    order = list(range(len(data)))
    if shuffle:
        rng.shuffle(order)
    for i in range(0, len(order), batch_size):
        chunk = [data[j] for j in order[i : i + batch_size]]
        lengths = torch.tensor([len(ids) for ids, _ in chunk], dtype=torch.int64)
        ids = torch.full((len(chunk), int(lengths.max())), PAD_ID, dtype=torch.int64)
        for k, (seq, _) in enumerate(chunk):
            ids[k, : len(seq)] = torch.tensor(seq)
        yield ids, lengths, torch.tensor([y for _, y in chunk], dtype=torch.int64)
