"""The corpus view in a real Streamlit script run (AppTest): every section draws from a corpus index."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from conftest import DATA_DIR, needs_sst2
from streamlit.testing.v1 import AppTest

SPEECH = "box xxx ab\nxx bo axxxx\n" * 600  # validation split: 1,380 characters, 6 chunks


def page():
    from test_corpus import planted_model
    from view_inputs import view_inputs

    from rnnviz.app.views import corpus as corpus_view

    corpus_view.render(view_inputs(planted_model(), "abxxxab", model="planted"))


@pytest.fixture
def data(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    (folder / "tinyshakespeare").mkdir(parents=True)
    (folder / "tinyshakespeare" / "input.txt").write_text(SPEECH, encoding="utf-8")
    monkeypatch.setenv("RNNVIZ_DATA_DIR", str(folder))
    monkeypatch.setenv("RNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def opened(**state) -> AppTest:
    at = AppTest.from_function(page, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def array(value) -> np.ndarray:
    """A figure array as Plotly 7 serialises numpy ({"dtype", "bdata", "shape"}) or as a list."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(
            value.get("shape", -1)
        )
    return np.asarray(value)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_without_reference_corpora_the_view_says_how_to_provide_one_then_reads_pasted_text(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("RNNVIZ_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("RNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = opened()
    assert at.selectbox(key="corpus_source").options == ["your text (upload or paste)"]
    assert "RNNVIZ_DATA_DIR" in at.info[0].value and "tinyshakespeare/input.txt" in at.info[0].value
    at.text_area(key="corpus_paste").input("ab xxx b\nxxxx").run()
    assert not at.exception
    assert "pasted text: 13 tokens" in at.caption[0].value
    assert list((tmp_path / "cache" / "corpus").glob("*.npz"))


def test_pasted_corpora_keep_the_disk_cache_within_its_bound_newest_first(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNVIZ_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("RNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "corpus"
    at = opened()
    at.text_area(key="corpus_paste").input("ab xxx b\nxxxx" * 40).run()
    (first,) = cache.glob("*.npz")
    bound = int(2.5 * first.stat().st_size)  # room for two indexes of this size, not three
    monkeypatch.setenv("RNNVIZ_CORPUS_CACHE_MB", str(bound / 2**20))
    for k in range(1, 5):  # each paste another text: another index on disk
        at.text_area(key="corpus_paste").input(("ab xxx b\nxxxx" * 40) + "b" * k).run()
        assert not at.exception
        assert f"pasted text: {13 * 40 + k} tokens" in at.caption[0].value
    kept = sorted(cache.glob("*.npz"), key=lambda path: path.stat().st_mtime)
    assert sum(path.stat().st_size for path in kept) <= bound
    assert len(kept) == 2 and first not in kept  # the oldest went first


def test_pattern_search_selects_the_planted_units_and_lists_the_corpus_runs(data):
    at = opened(corpus_span=(2, 4), corpus_threshold=0.5)
    assert "shakespeare-validation" in at.caption[0].value and "computed in" in at.caption[0].value
    assert any("2 units selected" in m.value and "0, 2" in m.value for m in at.markdown)
    query, match = figures(at)
    assert query["data"][0]["y"] == ["0", "2"]
    assert match["data"][0]["y"] == ["0", "2"]
    assert any("20 best matches" in m.value for m in at.markdown)
    html = next(m.value for m in at.markdown if "purity" in m.value)
    assert (
        html.count("length 3, purity 1.00") == 20
    )  # 60 runs of 'xxx' in the split: equally long runs rank first
    assert html.count("▸</span>") == 20 and "xxx" not in html  # every token its own coloured span
    again = opened(corpus_span=(2, 4), corpus_threshold=0.5)
    assert (
        "computed in" in again.caption[0].value
    )  # same process: the resource cache answers, no recompute


def test_a_span_with_no_selective_unit_says_so(data):
    at = opened(corpus_span=(0, 6), corpus_threshold=0.5)
    assert "No unit is on" in at.info[0].value


def test_unit_card_shows_histogram_feature_correlations_and_top_contexts(data):
    at = opened(corpus_section="Unit card", corpus_unit=0)
    histogram, features = figures(at)
    counts = array(histogram["data"][0]["y"])
    assert counts.sum() == len(SPEECH) - int(
        len(SPEECH) * 0.9
    )  # every character of the validation split
    x_count = SPEECH[int(len(SPEECH) * 0.9) :].count("x")
    assert (
        counts[35] == x_count and counts[4] == counts.sum() - x_count
    )  # h ≈ +0.76 at 'x', −0.76 elsewhere (bins of 0.05 from −1)
    assert len(features["data"][0]["y"]) == 5
    assert any("Top 6 contexts" in m.value for m in at.markdown)
    assert any("h = +0.762" in m.value for m in at.markdown)


def test_gate_saturation_plots_every_gate_unit_left_against_right(data):
    at = opened(corpus_section="Gate saturation")
    (figure,) = figures(at)
    names = [trace["name"] for trace in figure["data"][:3]]
    assert names == ["input gate i", "forget gate f", "output gate o"]
    assert array(figure["data"][1]["x"]).tolist() == [1.0] * 4  # forget bias −10: always shut
    assert "forget gate f: mean 100.0% left, 0.0% right" in at.caption[-1].value


def test_units_map_draws_every_unit_in_its_cluster(data):
    at = opened(corpus_section="Units map", corpus_clusters=2)
    (figure,) = figures(at)
    clusters = [trace for trace in figure["data"] if trace["name"].startswith("cluster")]
    assert len(clusters) == 2
    assert sorted(np.concatenate([array(t["customdata"]) for t in clusters]).tolist()) == [
        0,
        1,
        2,
        3,
    ]


def test_a_click_on_the_units_map_opens_that_units_card(data):
    at = opened(corpus_section="Units map", corpus_clusters=2)
    at.session_state["corpus_chart_map"] = {
        "selection": {"points": [{"customdata": 2, "x": 0.0, "y": 0.0}]}
    }
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="corpus_section").value == "Unit card"
    assert at.number_input(key="corpus_unit").value == 2
    assert any("**Unit 2**" in m.value for m in at.markdown)


def sst2_page():
    from view_inputs import view_inputs

    from rnnviz.app.views import corpus as corpus_view
    from rnnviz.models.architectures import load

    corpus_view.render(view_inputs(load("sst2-lstm"), "the movie was not good", model="sst2-lstm"))


@needs_sst2
def test_the_bundled_classifier_reads_sst2_dev_and_shows_a_unit_card(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNVIZ_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("RNNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_function(sst2_page, default_timeout=120)
    at.session_state["corpus_section"] = "Unit card"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="corpus_source").options == [
        "sst2-dev",
        "sst2-test",
        "your text (upload or paste)",
    ]
    assert "sst2-lstm on sst2-dev: 17,047 tokens in 872 segments" in at.caption[0].value
    assert any("Top 10 contexts" in m.value for m in at.markdown)
