"""Tokenizers that turn typed text into the ids a bundled model was trained on.

Two kinds exist because the two bundled tasks see text differently:

* :class:`CharTokenizer` for the character-level language model; every
  character is a token.
* :class:`WordTokenizer` for the SST-2 classifiers.  SST-2 text is already
  lower-cased and Penn-Treebank tokenized (``did n't``, ``it 's``, ``( ... )``,
  ```` `` ```` / ``''`` for double quotes).  A sentence a user types must be
  split the same way or words like ``didn't`` would all become ``<unk>`` and
  the visualisation would show the model reacting to nothing.

Id 0 is always ``<pad>`` and id 1 ``<unk>``.  Unknown input is never an error:
it maps to ``<unk>`` and is flagged in :attr:`Encoding.unknown` so the UI can
mark it, while the display token keeps the original text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


@dataclass(frozen=True)
class Encoding:
    """Result of tokenizing one text.

    ``tokens`` are display strings (the original text for unknown words),
    ``ids`` the vocabulary ids fed to the model, ``unknown[i]`` is True where
    ``ids[i]`` is the ``<unk>`` id because the token is not in the vocabulary.
    """

    tokens: list[str]
    ids: list[int]
    unknown: list[bool]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_unknown(self) -> int:
        return sum(self.unknown)


class _VocabMixin:
    """Shared id <-> token mapping; ``itos[0]`` is ``<pad>``, ``itos[1]`` ``<unk>``."""

    itos: list[str]
    stoi: dict[str, int]

    def _init_vocab(self, itos: Iterable[str]) -> None:
        itos = list(itos)
        if itos[:2] != [PAD, UNK]:
            raise ValueError(f"vocabulary must start with {PAD!r}, {UNK!r}; got {itos[:2]!r}")
        if len(set(itos)) != len(itos):
            raise ValueError("vocabulary contains duplicate entries")
        self.itos = itos
        self.stoi = {s: i for i, s in enumerate(itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def _encode_tokens(self, pieces: list[str]) -> Encoding:
        ids = [self.stoi.get(p, UNK_ID) for p in pieces]
        return Encoding(tokens=list(pieces), ids=ids, unknown=[i == UNK_ID for i in ids])

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids back to vocabulary strings (``<unk>`` for the unknown id)."""
        return [self.itos[i] for i in ids]


class CharTokenizer(_VocabMixin):
    """One token per character; characters outside the training text map to ``<unk>``."""

    kind = "char"

    def __init__(self, itos: Iterable[str]):
        self._init_vocab(itos)

    @classmethod
    def build(cls, text: str) -> "CharTokenizer":
        """Vocabulary = every distinct character of ``text``, in sorted order (deterministic)."""
        return cls([PAD, UNK, *sorted(set(text))])

    def encode(self, text: str) -> Encoding:
        return self._encode_tokens(list(text))

    def decode_text(self, ids: Iterable[int]) -> str:
        """Join decoded characters; pad is dropped and unknown shown as U+FFFD."""
        out = []
        for i in ids:
            if i == PAD_ID:
                continue
            out.append("\ufffd" if i == UNK_ID else self.itos[i])
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "vocab": self.itos}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CharTokenizer":
        return cls(d["vocab"])


# --- SST / Penn Treebank style word splitting -------------------------------

# Clitics split off the preceding word, as in the treebank: did|n't, it|'s, we|'re ...
_NT = re.compile(r"(?i)\b(\w+)(n't)\b")
_CLITIC = re.compile(r"(?i)(\w)('s|'re|'ve|'ll|'d|'m)\b")
# Abbreviations whose final period SST keeps attached (``mr.`` is one token there).
_ABBREVIATIONS = frozenset(
    "mr. mrs. ms. dr. st. jr. sr. vs. etc. inc. co. ltd. mt. no. vol. prof. gen. u.s. e.g. i.e.".split()
)
# Characters that always form their own token.
_ALWAYS_SPLIT = re.compile(r"([;:!?()\[\]{}$%#+=<>@|~^]|\*+|(?<!\w)&|&(?!\w)|,(?!\d)|(?<!\d),)")
# Words SST writes with a leading apostrophe ('em, 'til, 'n) rather than an opening quote.
_APOSTROPHE_WORDS = frozenset(
    ["'em", "'til", "'n", "'n'", "'cause", "'tis", "'70s", "'80s", "'90s", "'60s", "'50s"]
)
_KEEP_TRAILING_APOSTROPHE = frozenset(["ol'", "n'", "'n'", "rock'n'"])


class WordTokenizer(_VocabMixin):
    """Lower-cased, Penn-Treebank-style word tokenizer matching SST-2's preprocessing.

    ``"I didn't love it."`` → ``i did n't love it .``; ``"It's (not) bad"`` →
    ``it 's ( not ) bad``.  Hyphenated words (``old-fashioned``) stay whole,
    as they do in SST.
    """

    kind = "word"

    def __init__(self, itos: Iterable[str], style: str = "sst-ptb"):
        if style not in WORD_STYLES:
            raise ValueError(f"unknown word style {style!r} (expected one of {tuple(WORD_STYLES)})")
        self._init_vocab(itos)
        self.style = style

    @classmethod
    def build(
        cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None
    ) -> "WordTokenizer":
        """Vocabulary from already-tokenized training texts, most frequent first (ties alphabetical)."""
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(cls.split(t))
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq and w not in (PAD, UNK)),
            key=lambda w: (-counts[w], w),
        )
        if max_size is not None:
            words = words[: max(0, max_size - 2)]
        return cls([PAD, UNK, *words])

    @staticmethod
    def split(text: str) -> list[str]:
        """Split raw text into SST-style tokens (no vocabulary lookup)."""
        t = text.lower()
        t = (
            t.replace("\u2019", "'")
            .replace("\u2018", "'")
            .replace("\u201c", '"')
            .replace("\u201d", '"')
        )
        t = t.replace("\u2013", "--").replace("\u2014", "--")
        # Double quotes: opening -> ``, closing -> '' (treebank convention).
        t = re.sub(r'(^|\s|\()"', r"\1 `` ", t)
        t = t.replace('"', " '' ")
        t = _ALWAYS_SPLIT.sub(r" \1 ", t)
        t = re.sub(r"\.\.\.+", " ... ", t)
        t = re.sub(r"(?<!-)--(?!-)", " -- ", t)
        # Special treebank splits: can't -> ca n't, won't -> wo n't, cannot -> can not.
        t = re.sub(r"\bcannot\b", "can not", t)
        t = _NT.sub(r"\1 \2", t)
        t = _CLITIC.sub(r"\1 \2", t)
        out: list[str] = []
        for tok in t.split():
            # Quote-like leading/trailing single quotes: 'word' -> ` word '
            if (
                len(tok) > 1
                and tok.startswith("'")
                and tok not in ("'s", "'re", "'ve", "'ll", "'d", "'m", "''")
                and tok not in _APOSTROPHE_WORDS
                and tok.rstrip("'.") + "" not in _APOSTROPHE_WORDS
                and not re.match(r"'\d", tok)
            ):
                out.append("`")
                tok = tok[1:]
            trail = []
            while (
                len(tok) > 1
                and tok.endswith("'")
                and not tok.endswith("''")
                and tok not in _KEEP_TRAILING_APOSTROPHE
                and tok not in _APOSTROPHE_WORDS
            ):
                trail.append("'")
                tok = tok[:-1]
            if (
                tok.endswith(".")
                and tok != "."
                and tok != "..."
                and tok not in _ABBREVIATIONS
                and not re.fullmatch(r"(\w\.)+", tok)
            ):
                out.append(tok[:-1])
                out.append(".")
            else:
                out.append(tok)
            out.extend(trail)
        return out

    def encode(self, text: str) -> Encoding:
        return self._encode_tokens(WORD_STYLES[self.style](text))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "style": self.style, "lowercase": True, "vocab": self.itos}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WordTokenizer":
        return cls(d["vocab"], d.get("style", "sst-ptb"))


# --- torchtext's basic_english, the lesson's tokenizer ------------------------

# torchtext.data.utils._basic_english_normalize, rule for rule and in its order: after lower-casing,
# an apostrophe stands apart (don't → don ' t), double quotes go, . , ( ) ! ? stand apart,
# "<br />" ; : become spaces; then the text is split on whitespace (3% stays one token).
_BASIC_ENGLISH_RULES = [
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\'", " '  "),
        (r"\"", ""),
        (r"\.", " . "),
        (r"<br \/>", " "),
        (r",", " , "),
        (r"\(", " ( "),
        (r"\)", " ) "),
        (r"\!", " ! "),
        (r"\?", " ? "),
        (r"\;", " "),
        (r"\:", " "),
        (r"\s+", " "),
    )
]


def basic_english_split(text: str) -> list[str]:
    """Split text as torchtext's `get_tokenizer("basic_english")` does (the lesson's vocabulary)."""
    text = text.lower()
    for pattern, replacement in _BASIC_ENGLISH_RULES:
        text = pattern.sub(replacement, text)
    return text.split()


# How a word tokenizer splits text, by the config's tokenizer "style".
WORD_STYLES = {"sst-ptb": WordTokenizer.split, "basic_english": basic_english_split}


Tokenizer = CharTokenizer | WordTokenizer


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from the ``tokenizer`` entry of a model's config.json."""
    kind = d.get("type")
    if kind == "char":
        return CharTokenizer.from_dict(d)
    if kind == "word":
        return WordTokenizer.from_dict(d)
    raise ValueError(f"unknown tokenizer type {kind!r} (expected 'char' or 'word')")
