"""Corpus statistics: equal to brute force over an independent reference, planted patterns found, cache keyed right."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import DATA_DIR, needs_shakespeare, needs_sst2
from reference import reference_states

from rnnviz import cli
from rnnviz.analysis.corpus import (
    MAX_CORPUS_CHARACTERS,
    Corpus,
    cache_key,
    corpus_from_text,
    corpus_index,
    reference_corpus,
    select_units,
)
from rnnviz.analysis.corpus_stats import FEATURES, HISTOGRAM_EDGES, token_features, unit_clusters
from rnnviz.analysis.inspection import inspect_text
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel, ModelConfig, build_module, save
from rnnviz.models.tokenizers import CharTokenizer, WordTokenizer

TEXT = (
    'First Citizen:\nBefore we proceed (any further), hear me speak.\n\nAll:\nSpeak, speak. "Not so," '
    "I said; no, never [again].\nSecond Citizen:\nWe are accounted poor citizens."
)
SENTENCES = [
    "the movie was not good .",
    "a ( very ) fine film",
    "i did n't love it , but it 's fine",
    "bad",
    "`` great '' acting , never dull",
    "no",
]


def char_model(hidden=6, layers=2, seed=0) -> LoadedModel:
    tokenizer = CharTokenizer.build(TEXT)
    config = ModelConfig(
        name="tiny-lm",
        description="",
        task="language_model",
        cell_kind="lstm",
        vocab_size=tokenizer.vocab_size,
        embedding_dim=5,
        hidden_size=hidden,
        num_layers=layers,
    )
    torch.manual_seed(seed)
    return LoadedModel(config, tokenizer, _scaled(build_module(config)).eval())


def word_model() -> LoadedModel:
    tokenizer = WordTokenizer.build(SENTENCES)
    config = ModelConfig(
        name="tiny-bigru",
        description="",
        task="classifier",
        cell_kind="gru",
        vocab_size=tokenizer.vocab_size,
        embedding_dim=4,
        hidden_size=5,
        bidirectional=True,
        labels=["negative", "positive"],
    )
    torch.manual_seed(1)
    return LoadedModel(config, tokenizer, _scaled(build_module(config)).eval())


def _scaled(module):
    # Larger weights than the default init, so that gates reach saturation and units spread out.
    with torch.no_grad():
        for parameter in module.rnn.parameters():
            parameter.mul_(6.0)
    return module


def brute_force(loaded: LoadedModel, corpus: Corpus, layer: int, direction: str) -> dict:
    """Every token's quantities from tests/reference.py, one segment at a time, float64."""
    per_quantity: dict[str, list] = {}
    segments, tokens = [], []
    for s, text in enumerate(corpus.segments):
        encoding = loaded.encode(text)
        embedded = loaded.module.embedding(torch.tensor(encoding.ids)).detach()
        states = reference_states(loaded.module.rnn, embedded)
        for name, value in states.items():
            per_quantity.setdefault(name, []).append(value.numpy())
        segments += [s] * len(encoding.ids)
        tokens.append(encoding.tokens)
    quantities = {name: np.concatenate(values) for name, values in per_quantity.items()}
    characters = loaded.config.task == "language_model"
    features = np.concatenate([token_features(t, characters) for t in tokens]).astype(np.float64)
    return dict(
        quantities=quantities,
        hidden=quantities[f"layer{layer}.{direction}.hidden"],
        segments=np.array(segments),
        features=features,
    )


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize(
    "kind, layer, direction",
    [("char", 1, "forward"), ("char", 0, "forward"), ("word", 0, "backward")],
)
def test_streamed_statistics_equal_brute_force_numpy_over_an_independent_reference(
    kind, layer, direction, tmp_path
):
    loaded = char_model() if kind == "char" else word_model()
    corpus = (
        corpus_from_text(TEXT, "language_model", chunk_characters=23)
        if kind == "char"
        else corpus_from_text("\n".join(SENTENCES), "classifier")
    )
    index = corpus_index(
        loaded, corpus, layer, direction, cache_dir=tmp_path, batch_size=3, top_k=4
    )
    truth = brute_force(loaded, corpus, layer, direction)
    hidden, units = truth["hidden"], loaded.config.hidden_size

    assert index.num_tokens == len(hidden)
    np.testing.assert_allclose(index.hidden, hidden, atol=2e-3)  # float16 storage
    np.testing.assert_allclose(index.mean, hidden.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(index.std, hidden.std(axis=0), atol=1e-5)
    for unit in range(units):
        assert (
            index.histogram[unit].tolist()
            == np.histogram(np.clip(hidden[:, unit], -1, 1), HISTOGRAM_EDGES)[0].tolist()
        )
        for f in range(len(FEATURES)):
            assert index.feature_correlation[f, unit] == pytest.approx(
                pearson(truth["features"][:, f], hidden[:, unit]), abs=1e-4
            )
        for other in range(units):
            assert index.unit_correlation[unit, other] == pytest.approx(
                pearson(hidden[:, unit], hidden[:, other]), abs=1e-4
            )
        # Top contexts: each segment's maximum, the k largest of those, best first.
        maxima = [
            (
                hidden[truth["segments"] == s, unit].max(),
                np.flatnonzero(truth["segments"] == s)[
                    hidden[truth["segments"] == s, unit].argmax()
                ],
            )
            for s in np.unique(truth["segments"])
        ]
        expected = sorted(maxima, key=lambda m: -m[0])[:4]
        assert index.top_positions[unit].tolist() == [int(p) for _, p in expected]
        np.testing.assert_allclose(index.top_values[unit], [v for v, _ in expected], atol=1e-5)

    gates = {
        "lstm": ("input_gate", "forget_gate", "output_gate"),
        "gru": ("reset_gate", "update_gate"),
    }[loaded.config.cell_kind]
    seen = {(s.layer, s.direction, s.gate) for s in index.saturation}
    directions = ("forward", "backward")[: loaded.config.num_directions]
    assert seen == {
        (k, d, g) for k in range(loaded.config.num_layers) for d in directions for g in gates
    }
    for s in index.saturation:
        values = truth["quantities"][f"layer{s.layer}.{s.direction}.{s.gate}"]
        np.testing.assert_allclose(s.left, (values < 0.1).mean(axis=0))
        np.testing.assert_allclose(s.right, (values > 0.9).mean(axis=0))
    assert any(s.left.max() > 0 for s in index.saturation) and any(
        s.right.max() > 0 for s in index.saturation
    )


def test_token_features_mark_brackets_line_positions_punctuation_and_negation_scope():
    tokens = list('no (a) b.\n"x"')
    table = dict(zip(FEATURES, token_features(tokens, characters=True).T))
    assert table["inside_quotes_or_brackets"].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1]
    assert table["position_in_line"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert table["after_newline"].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert table["punctuation"].tolist() == [0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1]
    # "no" ends at the space: from there to the "(" (punctuation) the scope is open.
    assert table["after_negation"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    words = WordTokenizer.split("it 's not ( very ) good , but fine")
    negation = token_features(words, characters=False)[:, FEATURES.index("after_negation")]
    assert dict(zip(words, negation)) == {
        "it": 0,
        "'s": 0,
        "not": 0,
        "(": 0,
        "very": 0,
        ")": 0,
        "good": 0,
        ",": 0,
        "but": 0,
        "fine": 0,
    }
    words = WordTokenizer.split("not very good , fine")
    assert token_features(words, characters=False)[
        :, FEATURES.index("after_negation")
    ].tolist() == [0, 1, 1, 0, 0]


def planted_model() -> LoadedModel:
    """A 1-layer LSTM with one-hot embeddings: units 0 and 2 are on (h ≈ +0.76) exactly at 'x', unit 3 at 'a'."""
    tokenizer = CharTokenizer.build("abx o\n")
    vocab = tokenizer.vocab_size
    config = ModelConfig(
        name="planted",
        description="",
        task="language_model",
        cell_kind="lstm",
        vocab_size=vocab,
        embedding_dim=vocab,
        hidden_size=4,
    )
    module = build_module(config).eval()
    hidden = 4
    with torch.no_grad():
        module.embedding.weight.copy_(torch.eye(vocab))
        for parameter in module.rnn.parameters():
            parameter.zero_()
        bias = module.rnn.bias_ih_l0
        bias[:hidden] = 10.0  # input gate open
        bias[hidden : 2 * hidden] = -10.0  # forget gate shut: no memory
        bias[3 * hidden :] = 10.0  # output gate open
        for unit, char in ((0, "x"), (2, "x"), (3, "a")):
            module.rnn.weight_ih_l0[2 * hidden + unit, tokenizer.stoi[char]] = 20.0
            bias[2 * hidden + unit] = -10.0  # g = tanh(±10): +1 at the char, −1 elsewhere
    return LoadedModel(config, tokenizer, module)


def test_pattern_search_finds_the_planted_units_and_ranks_the_equally_long_run_first(tmp_path):
    loaded = planted_model()
    run = inspect_text(loaded, "abxxxab")
    values = run.states(0, "forward", "hidden")
    assert values[2:5, 0] == pytest.approx([0.7616] * 3, abs=1e-3)
    units = select_units(values, 2, 4, threshold=0.5)
    assert units.tolist() == [0, 2]
    text = "box xxxx ab\nxxx bo\nax xx\nbxxxb"
    corpus = corpus_from_text(text, "language_model", chunk_characters=12)
    index = corpus_index(loaded, corpus, cache_dir=tmp_path)
    matches = index.find_pattern(units, threshold=0.5, length=3)
    spans = ["".join(index.tokens[m.start : m.end]) for m in matches]
    assert spans == ["xxx", "xxx", "xxxx", "xx", "x", "x"]
    assert [m.start for m in matches[:2]] == [text.index("\nxxx") + 1, text.index("bxxxb") + 1]
    assert all(m.purity == 1.0 for m in matches)  # no other unit is on at 'x'
    # A selection that also needs unit 3 ('a') matches nothing made of x's alone.
    assert index.find_pattern(np.array([0, 3]), 0.5, 3) == []


def test_pattern_search_never_joins_a_run_across_segments(tmp_path):
    loaded = planted_model()
    corpus = Corpus(name="split", segments=("boxx", "xxob"))
    index = corpus_index(loaded, corpus, cache_dir=tmp_path)
    matches = index.find_pattern(np.array([0, 2]), 0.5, 4)
    assert sorted((m.start, m.end) for m in matches) == [(2, 4), (4, 6)]


def test_the_second_visit_reads_the_cache_and_edits_to_model_or_corpus_recompute(tmp_path):
    loaded = char_model(hidden=4, layers=1)
    corpus = corpus_from_text(TEXT, "language_model", chunk_characters=40)
    first = corpus_index(loaded, corpus, cache_dir=tmp_path)
    second = corpus_index(loaded, corpus, cache_dir=tmp_path)
    assert not first.from_cache and second.from_cache
    assert len(list(tmp_path.glob("*.npz"))) == 1
    np.testing.assert_array_equal(first.hidden, second.hidden)
    np.testing.assert_array_equal(first.top_positions, second.top_positions)
    assert [s.left.tolist() for s in first.saturation] == [
        s.left.tolist() for s in second.saturation
    ]
    with np.load(
        next(tmp_path.glob("*.npz")), allow_pickle=False
    ) as stored:  # no pickled objects inside
        assert {"hidden", "tokens", "meta"} <= set(stored.files)

    edited_corpus = corpus_from_text(TEXT + " More.", "language_model", chunk_characters=40)
    assert not corpus_index(loaded, edited_corpus, cache_dir=tmp_path).from_cache
    with torch.no_grad():
        loaded.module.rnn.weight_hh_l0[0, 0] += 0.5
    edited = corpus_index(loaded, corpus, cache_dir=tmp_path)
    assert not edited.from_cache and edited.key != first.key
    assert not np.array_equal(edited.hidden, first.hidden)
    assert cache_key(loaded, corpus, 0, "forward") != cache_key(
        loaded, corpus, 0, "forward", top_k=5
    )
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_a_damaged_cache_file_is_recomputed_not_fatal(tmp_path):
    loaded = char_model(hidden=3, layers=1)
    corpus = corpus_from_text(TEXT, "language_model")
    index = corpus_index(loaded, corpus, cache_dir=tmp_path)
    (tmp_path / f"{index.key}.npz").write_bytes(b"not an npz")
    again = corpus_index(loaded, corpus, cache_dir=tmp_path)
    assert not again.from_cache and np.array_equal(again.hidden, index.hidden)


def test_user_corpora_split_into_sentences_or_chunks_and_refuse_oversize_text():
    assert corpus_from_text("a b\n\n c d \n", "classifier").segments == ("a b", "c d")
    assert corpus_from_text("sentence\tlabel\ngood film\t1\nbad\t0\n", "classifier").segments == (
        "good film",
        "bad",
    )
    chunks = corpus_from_text("x" * 600, "language_model").segments
    assert [len(c) for c in chunks] == [256, 256, 88]
    with pytest.raises(RnnvizError, match="at most 250,000"):
        corpus_from_text("x" * (MAX_CORPUS_CHARACTERS + 1), "language_model")
    with pytest.raises(RnnvizError, match="empty"):
        corpus_from_text(" \n", "classifier")


def test_a_missing_reference_corpus_says_how_to_provide_one(tmp_path):
    with pytest.raises(RnnvizError, match="RNNVIZ_DATA_DIR"):
        reference_corpus("sst2-test", data_dir=tmp_path)


@needs_shakespeare
def test_shakespeare_reference_corpus_is_the_last_tenth_in_256_character_chunks():
    text = (DATA_DIR / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    corpus = reference_corpus("shakespeare-validation", DATA_DIR)
    assert "".join(corpus.segments) == text[int(len(text) * 0.9) :]
    assert {len(s) for s in corpus.segments[:-1]} == {256}


@needs_sst2
def test_sst2_reference_corpora_have_one_segment_per_row():
    assert len(reference_corpus("sst2-dev", DATA_DIR).segments) == 872
    assert len(reference_corpus("sst2-test", DATA_DIR).segments) == 1821


def test_units_that_move_together_share_a_cluster():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(size=500)
    values = np.stack(
        [a, a + 0.1 * rng.normal(size=500), b, b + 0.1 * rng.normal(size=500), -a], axis=1
    )
    coordinates, labels = unit_clusters(np.corrcoef(values.T), clusters=3)
    assert coordinates.shape == (5, 2)
    assert labels[0] == labels[1] and labels[2] == labels[3]
    assert len({labels[0], labels[2], labels[4]}) == 3  # anti-correlated is not "together"
    assert (
        np.linalg.norm(coordinates[0] - coordinates[1])
        < 0.2
        < np.linalg.norm(coordinates[0] - coordinates[4])
    )


def test_cli_corpus_computes_then_reads_the_cache_and_prints_saturation_and_top_units(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("RNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    loaded = char_model(hidden=4, layers=2)
    folder = save(tmp_path / "tiny-lm", loaded.config, loaded.tokenizer, loaded.module)
    corpus_file = tmp_path / "speech.txt"
    corpus_file.write_text(TEXT, encoding="utf-8")
    assert cli.main(["corpus", "--model", str(folder), str(corpus_file), "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert "computed in" in first and "layer 1 forward  forget_gate" in first
    assert "inside quotes or brackets" in first and "after a negation word" in first
    assert cli.main(["corpus", "--model", str(folder), str(corpus_file), "--no-progress"]) == 0
    assert "(cache)" in capsys.readouterr().out
    assert cli.main(["corpus", "--model", str(folder), str(tmp_path / "missing.txt")]) == 2
