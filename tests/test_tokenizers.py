"""The tokenizers: SST-style word splitting, unknown handling, JSON round trip."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SST2_DIR, needs_sst2

from rnnviz.models.tokenizers import (
    PAD_ID,
    UNK_ID,
    CharTokenizer,
    Encoding,
    WordTokenizer,
    tokenizer_from_dict,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I didn't love it.", "i did n't love it ."),
        ("It's not bad!", "it 's not bad !"),
        ("The movie wasn't good", "the movie was n't good"),
        (
            "We're sure you'll like it; they've said so, I'd guess, I'm told",
            "we 're sure you 'll like it ; they 've said so , i 'd guess , i 'm told",
        ),
        ("I can't and won't", "i ca n't and wo n't"),
        ("It cannot fail", "it can not fail"),
        (
            "A (very) old-fashioned, feel-good film...",
            "a ( very ) old-fashioned , feel-good film ...",
        ),
        ('He said "great" -- Mr. Smith', "he said `` great '' -- mr. smith"),
        ("NEVER boring", "never boring"),
        ("the actors' work", "the actors ' work"),
        ("10,000 times, r&d", "10,000 times , r&d"),
        ("It\u2019s fine", "it 's fine"),
    ],
)
def test_word_tokenizer_splits_like_sst(text, expected):
    assert WordTokenizer.split(text) == expected.split()


def _detokenize(sst: str) -> str:
    """Turn an SST-tokenized sentence back into ordinary typed text (an independent inverse)."""
    s = " " + sst.strip() + " "
    s = s.replace(" ca n't ", " can't ").replace(" wo n't ", " won't ")
    s = re.sub(r" n't ", "n't ", s)
    s = re.sub(r" ('s|'re|'ve|'ll|'d|'m) ", r"\1 ", s)
    s = re.sub(r" ([,.;:!?)]) ", r"\1 ", s)
    s = re.sub(r" ([,.;:!?)]) ", r"\1 ", s)
    s = re.sub(r" \( ", " (", s)
    return s.strip()


@needs_sst2
def test_typed_sentences_meet_sst_tokens():
    """Detokenize every dev/test sentence, re-tokenize it, and compare with SST's own tokens."""
    rows = []
    for name in ("dev.tsv", "test.tsv"):
        lines = (SST2_DIR / name).read_text(encoding="utf-8").splitlines()[1:]
        rows += [line.split("\t")[0] for line in lines]
    same = sum(WordTokenizer.split(_detokenize(s)) == s.split() for s in rows)
    assert len(rows) == 872 + 1821
    assert same / len(rows) >= 0.99, f"only {same}/{len(rows)} sentences re-tokenize identically"


@needs_sst2
def test_already_tokenized_sst_text_is_a_fixed_point():
    lines = (SST2_DIR / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sents = [line.split("\t")[0] for line in lines]
    same = sum(WordTokenizer.split(s) == s.split() for s in sents)
    assert same / len(sents) >= 0.995


def test_unknown_words_map_to_unk_and_keep_their_text():
    tok = WordTokenizer.build(["the movie was good", "not bad"])
    enc = tok.encode("The movie was zorgful")
    assert enc.tokens == ["the", "movie", "was", "zorgful"]
    assert enc.unknown == [False, False, False, True]
    assert enc.ids[3] == UNK_ID and enc.num_unknown == 1
    assert tok.itos[:2] == ["<pad>", "<unk>"] and PAD_ID == 0


def test_word_vocabulary_is_ordered_by_frequency_then_alphabet():
    tok = WordTokenizer.build(["b a", "a c", "c a"])
    assert tok.itos == ["<pad>", "<unk>", "a", "c", "b"]


def test_char_tokenizer_marks_unknown_characters_without_crashing():
    tok = CharTokenizer.build("hello world")
    enc = tok.encode("hello\u00e9!")
    assert isinstance(enc, Encoding)
    assert enc.tokens == list("hello\u00e9!")
    assert enc.unknown == [False] * 5 + [True, True]
    assert tok.decode_text(enc.ids) == "hello\ufffd\ufffd"
    assert tok.encode("").ids == []


@pytest.mark.parametrize("tok", [CharTokenizer.build("abc"), WordTokenizer.build(["x y", "y z"])])
def test_tokenizers_round_trip_through_json(tok):
    d = json.loads(json.dumps(tok.to_dict()))
    back = tokenizer_from_dict(d)
    assert type(back) is type(tok) and back.itos == tok.itos


def test_bad_tokenizer_dicts_are_rejected():
    with pytest.raises(ValueError):
        tokenizer_from_dict({"type": "bpe", "vocab": []})
    with pytest.raises(ValueError):
        CharTokenizer(["a", "b"])  # does not start with <pad>, <unk>


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # torchtext's own docstring example for get_tokenizer("basic_english")
        (
            "You can now install TorchText using pip!",
            ["you", "can", "now", "install", "torchtext", "using", "pip", "!"],
        ),
        # the rules by hand: an apostrophe stands apart, periods too, % is not split off
        ("I don't know", ["i", "don", "'", "t", "know"]),
        (
            "Apple's U.S. sales rose 3%",
            ["apple", "'", "s", "u", ".", "s", ".", "sales", "rose", "3%"],
        ),
        (
            'He said "no" (twice); then: <br />stop, now?',
            ["he", "said", "no", "(", "twice", ")", "then", "stop", ",", "now", "?"],
        ),
    ],
)
def test_the_basic_english_style_splits_as_torchtexts_basic_english(text, expected):
    tok = WordTokenizer(["<pad>", "<unk>", *sorted(set(expected))], style="basic_english")
    encoding = tok.encode(text)
    assert encoding.tokens == expected and not any(encoding.unknown)
    # the bundled (treebank) style splits the same text otherwise: why a lesson vocabulary needs this
    assert WordTokenizer.split("I don't know") == ["i", "do", "n't", "know"]


def test_the_word_style_travels_through_json_and_unknown_styles_are_refused():
    tok = WordTokenizer(["<pad>", "<unk>", "don", "'", "t"], style="basic_english")
    back = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert back.style == "basic_english" and back.encode("Don't").ids == [2, 3, 4]
    assert tokenizer_from_dict({"type": "word", "vocab": ["<pad>", "<unk>"]}).style == "sst-ptb"
    with pytest.raises(ValueError, match="unknown word style"):
        tokenizer_from_dict({"type": "word", "style": "bert", "vocab": ["<pad>", "<unk>"]})
