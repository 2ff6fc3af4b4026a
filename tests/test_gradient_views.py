"""The gradients view and the training lab view, driven through AppTest on throwaway pages that call
their render() functions; assertions compare what is drawn with the library's own results."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import rnnviz
from rnnviz.analysis.gradients import LOG_FLOOR, gradient_flow, token_attributions
from rnnviz.app.views.gradients import COMPARED_MODELS
from rnnviz.models.architectures import ModelConfig, build_module, bundled_names, save
from rnnviz.models.tokenizers import CharTokenizer

SENTENCE = "the movie was not good"
needs_sst2_lstm = pytest.mark.skipif(
    "sst2-lstm" not in bundled_names(), reason="sst2-lstm not bundled"
)


def gradient_page(source: str, text: str) -> None:
    from view_inputs import view_inputs

    import rnnviz
    from rnnviz.app.views.gradients import render

    render(view_inputs(rnnviz.load(source), text, model=source))


def lab_page() -> None:
    from rnnviz.app.views.lab import render

    render(None)  # the lab reads nothing of the page: it trains models of its own


def charts(at: AppTest) -> dict[str, dict]:
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def values(array) -> np.ndarray:
    if isinstance(array, dict):  # plotly 7 binary encoding
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        shape = array.get("shape", flat.shape)
        shape = tuple(int(n) for n in shape.split(",")) if isinstance(shape, str) else tuple(shape)
        return flat.reshape(shape)
    return np.asarray(array, dtype=np.float64)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def widget_keys(at: AppTest) -> set[str]:
    keys = set()
    for kind in ("selectbox", "slider", "radio", "number_input", "button"):
        keys |= {w.key for w in at.get(kind) if w.key}
    return keys


@needs_sst2_lstm
def test_gradient_view_draws_the_flow_the_attributions_and_the_completeness_check():
    at = AppTest.from_function(
        gradient_page, args=("sst2-lstm", SENTENCE), default_timeout=120
    ).run()
    assert_clean(at)
    loaded = rnnviz.load("sst2-lstm")
    ids = loaded.encode(SENTENCE).ids
    flow = gradient_flow(loaded, ids)
    attributions = token_attributions(loaded, ids)
    drawn = charts(at)
    heat = drawn["grad_chart_heatmap"]["data"][0]
    np.testing.assert_allclose(
        values(heat["z"]), np.log10(np.vstack([flow.norms_hidden, flow.norms_cell])), rtol=1e-5
    )
    lines = drawn["grad_chart_lines"]
    assert lines["layout"]["yaxis"]["type"] == "log"
    np.testing.assert_allclose(values(lines["data"][0]["y"]), flow.norms_hidden[0], rtol=1e-5)
    np.testing.assert_allclose(
        values(drawn["grad_chart_dependence"]["data"][0]["y"]),
        flow.last_state_dependence[0],
        rtol=1e-5,
    )
    bars = drawn["grad_chart_attributions"]["data"]
    np.testing.assert_allclose(
        values(bars[0]["y"]), attributions.gradient_x_input, rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(values(bars[1]["y"]), attributions.integrated, rtol=1e-4, atol=1e-6)
    captions = " ".join(c.value for c in at.caption)
    assert "Completeness" in captions and "y(x) − y(baseline)" in captions and "✓" in captions
    assert f"{attributions.integrated.sum():.4f}" in captions
    coloured = [m.value for m in at.markdown if "background:" in m.value]
    assert len(coloured) == 2 and all(c.count("<span") == 5 for c in coloured)
    assert widget_keys(at) and all(key.startswith("grad_") for key in widget_keys(at))


@needs_sst2_lstm
def test_choosing_the_other_class_differentiates_its_score():
    at = AppTest.from_function(
        gradient_page, args=("sst2-lstm", SENTENCE), default_timeout=120
    ).run()
    predicted = at.selectbox(key="grad_class").value
    at.selectbox(key="grad_class").set_value(1 - predicted).run()
    assert_clean(at)
    loaded = rnnviz.load("sst2-lstm")
    flow = gradient_flow(loaded, loaded.encode(SENTENCE).ids, target=1 - predicted)
    heat = charts(at)["grad_chart_heatmap"]
    assert loaded.config.labels[1 - predicted] in heat["layout"]["title"]["text"]
    np.testing.assert_allclose(
        values(heat["data"][0]["z"])[0], np.log10(flow.norms_hidden[0]), rtol=1e-5
    )


@needs_sst2_lstm
def test_side_by_side_shows_every_bundled_cell_and_names_the_ones_skipped():
    at = AppTest.from_function(
        gradient_page, args=("sst2-lstm", SENTENCE), default_timeout=120
    ).run()
    assert_clean(at)
    bundled = [name for name in COMPARED_MODELS if name in bundled_names()]
    missing = [name for name in COMPARED_MODELS if name not in bundled_names()]
    comparison = charts(at)["grad_chart_comparison"]
    assert [t["name"].split(":")[0] for t in comparison["data"]] == bundled
    assert comparison["layout"]["yaxis"]["type"] == "log"
    skipped = " ".join(i.value for i in at.info)
    assert all(f"{name} (not bundled yet)" in skipped for name in missing)


def tiny_language_model(folder) -> str:
    tok = CharTokenizer.build("to be or not to be")
    cfg = ModelConfig(
        name="tiny-lm",
        description="",
        task="language_model",
        cell="gru",
        vocab_size=tok.vocab_size,
        embedding_dim=4,
        hidden_size=6,
        num_layers=2,
    )
    torch.manual_seed(0)
    save(folder, cfg, tok, build_module(cfg))
    return str(folder)


def test_language_model_output_position_is_chosen_and_later_steps_get_no_gradient(tmp_path):
    source = tiny_language_model(tmp_path / "lm")
    at = AppTest.from_function(gradient_page, args=(source, "to be or"), default_timeout=120).run()
    assert_clean(at)
    at.slider(key="grad_position").set_value(3).run()
    assert_clean(at)
    z = values(charts(at)["grad_chart_heatmap"]["data"][0]["z"])
    assert z.shape == (2, 8)  # two GRU layers (no cell state) × 8 characters
    np.testing.assert_allclose(z[:, 4:], np.log10(LOG_FLOOR), rtol=1e-6)
    assert np.all(z[:, :4] > -11)
    target = at.selectbox(key="grad_token").value
    loaded = rnnviz.load(source)
    flow = gradient_flow(loaded, loaded.encode("to be or").ids, target=target, position=3)
    np.testing.assert_allclose(z[:, :4], np.log10(flow.norms_hidden[:, :4]), rtol=1e-5)


def lab(**settings) -> AppTest:
    at = AppTest.from_function(lab_page, default_timeout=60).run()
    assert_clean(at)
    for key, value in settings.items():
        widget = next(
            w
            for kind in ("radio", "selectbox", "slider", "number_input")
            for w in at.get(kind)
            if w.key == key
        )
        widget.set_value(value)
    return at.run()


def test_lab_trains_in_the_background_then_shows_the_model_inside_and_offers_the_download():
    at = lab(
        lab_cell="lstm",
        lab_task="first_symbol",
        lab_n=5,
        lab_hidden=8,
        lab_budget=20,
        lab_max_steps=300,
    )
    assert "press Train" in at.info[0].value
    at.button(key="lab_train").click().run()
    assert_clean(at)
    job = at.session_state["lab_job"]
    assert job.config.cell == "lstm" and job.config.n == 5 and job.config.hidden_size == 8
    progress = job.wait(timeout=60)
    assert progress.finished and progress.state == "done"
    at.run()
    assert_clean(at)
    assert at.success[0].value.startswith("Done: reached")
    drawn = charts(at)
    accuracy = drawn["lab_chart_training"]["data"][1]
    assert values(accuracy["y"])[-1] == pytest.approx(progress.accuracy)
    assert drawn["lab_chart_gradients"]["layout"]["yaxis"]["type"] == "log"
    for quantity in ("input_gate", "forget_gate", "cell_gate", "output_gate", "cell", "hidden"):
        heat = drawn[f"lab_chart_{quantity}"]["data"][0]
        assert len(heat["x"]) == 7  # symbol, 5 distractors, "?"
        assert values(heat["z"]).shape == (8, 7)
    assert at.get("download_button")
    assert all(key.startswith("lab_") for key in widget_keys(at))


def test_lab_stop_button_ends_a_running_job():
    at = lab(lab_cell="rnn", lab_n=60, lab_budget=60, lab_max_steps=100_000, lab_target=1.0)
    at.button(key="lab_train").click().run()
    job = at.session_state["lab_job"]
    assert not job.snapshot().finished
    at.button(key="lab_stop").click().run()
    assert_clean(at)
    assert job.snapshot().state == "stopped"
    assert (
        at.warning[0].value.startswith("Stopped after") and not at.success
    )  # a stop is not a success
