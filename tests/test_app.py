"""The Streamlit page, driven through AppTest: every view and control, asserting on what is shown."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.figures import NEXT_TOKENS_GROUP, PLOT_DECIMALS, PREDICTIONS_GROUP, token_labels
from rnnviz.models.architectures import bundled_names

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = str(value)
    return at.run()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def heatmaps(at: AppTest) -> list[dict]:
    """Every heatmap of states on the page, in page order, as {"title", "heatmap", "over"}: a panel of
    the heatmap grid or a chart of its own (not the top-k table); "over" are the traces drawn on it."""
    found = []
    for chart in charts(at):
        layout, traces = chart["layout"], chart["data"]
        if layout["yaxis"].get("title", {}).get("text") != "unit":
            continue
        maps = [t for t in traces if t["type"] == "heatmap"]
        titles = [
            a["text"]
            for a in layout.get("annotations", [])
            if not a["text"].startswith(CLASS_CURVES_TITLE)
        ] or [layout["title"]["text"]]
        assert len(titles) == len(maps), "one title per heatmap panel"
        for title, heatmap in zip(titles, maps):
            # the grid's panels share one pair of axes and tell themselves apart by legendgroup
            group = heatmap.get("legendgroup")
            if (
                group == NEXT_TOKENS_GROUP
            ):  # a language model's top-k table on the grid's token axis
                continue
            over = [
                _readable(t, layout)
                for t in traces
                if t is not heatmap and t.get("legendgroup") == group
            ]
            found.append(
                {
                    "title": title,
                    "heatmap": _readable(heatmap, layout),
                    "over": over,
                    "layout": layout,
                }
            )
    return found


CLASS_CURVES_TITLE = "prediction after each token"


def class_curves(at: AppTest) -> tuple[str, list[dict]]:
    """A classifier's curves (the heatmap grid's first row): their title and one trace per class."""
    for chart in charts(at):
        curves = [t for t in chart["data"] if t.get("legendgroup") == PREDICTIONS_GROUP]
        if curves:
            (title,) = [
                a["text"]
                for a in chart["layout"]["annotations"]
                if a["text"].startswith(CLASS_CURVES_TITLE)
            ]
            return title, curves
    raise AssertionError("no class curves on the page")


def _readable(trace: dict, layout: dict) -> dict:
    """A trace with its columns named by token label ("not ·3"): the side-by-side grid draws panel k
    at numbers of its own, which the x axis's ticks name."""
    x = trace.get("x") or []
    if not x or not all(isinstance(v, (int, float)) for v in x):
        return trace
    axis = layout.get("xaxis", {})
    names = dict(zip(axis.get("tickvals", []), axis.get("ticktext", [])))
    first = min(x)
    return dict(trace, x=[f"{names[v]} ·{int(v - first)}" for v in x])


def colour_range(panel: dict) -> tuple[float, float]:
    """A heatmap panel's fixed colour range: its own zmin/zmax, or those of the colour axis it shares."""
    heatmap = panel["heatmap"]
    if "coloraxis" in heatmap:
        axis = panel["layout"][heatmap["coloraxis"]]
        return axis["cmin"], axis["cmax"]
    return heatmap["zmin"], heatmap["zmax"]


def z_values(trace: dict) -> np.ndarray:
    z = trace["z"]
    if isinstance(z, dict):  # plotly 7 binary encoding
        import base64

        shape = z["shape"]
        shape = tuple(int(n) for n in shape.split(",")) if isinstance(shape, str) else tuple(shape)
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def plotted(trace: dict, key: str) -> np.ndarray:
    """A trace's x / y / z as numbers, whether Plotly wrote a list or its binary encoding."""
    data = trace[key]
    if isinstance(data, dict) and "shape" not in data:  # a one-dimensional binary array
        data = dict(data, shape=[-1])
    return z_values({"z": data}).astype(np.float64)


def prefix_probabilities(name: str, text: str) -> np.ndarray:
    """[token, class]: the bundled model's softmax after each prefix of `text`, each prefix run through
    the model's own torch module from scratch (no rnnviz analysis involved)."""
    model = rnnviz.load(name)
    ids = model.tokenizer.encode(text).ids
    with torch.no_grad():
        return np.stack(
            [
                torch.softmax(model.module(torch.tensor([ids[: t + 1]])), -1)[0].double().numpy()
                for t in range(len(ids))
            ]
        )


def test_default_page_shows_the_prediction_flip_and_one_heatmap_per_lstm_quantity():
    at = page(unit="0")
    assert_clean(at)
    assert len(charts(at)) == 1  # the curves are the grid's first row
    title, curves = class_curves(at)
    names = [t["name"] for t in curves]
    assert names == ["negative", "positive"]
    drawn = np.stack([plotted(t, "y") for t in curves], axis=1)  # [token, class]
    expected = prefix_probabilities("sst2-lstm", "the movie was not good")
    np.testing.assert_allclose(drawn, expected, atol=1e-3)  # the plot's 3 decimals
    last = expected[-1]
    assert f"after the last: <b>{names[last.argmax()]} ({last.max():.1%})</b>" in title
    # The flip: after "the movie" the model leans positive, from "was not" on negative; the drawn
    # curves cross where the independently computed label changes.
    label_after = [names[k] for k in expected.argmax(axis=1)]
    assert label_after[1] == "positive" and label_after[3] == "negative", label_after
    assert [names[k] for k in drawn.argmax(axis=1)] == label_after
    maps = heatmaps(at)
    assert [m["title"] for m in maps] == [
        "input gate i",
        "forget gate f",
        "cell candidate g",
        "output gate o",
        "cell state c",
        "hidden state h",
    ]
    run = inspect_text(rnnviz.load("sst2-lstm"), "the movie was not good")
    forget = maps[1]["heatmap"]
    assert forget["x"] == ["the ·0", "movie ·1", "was ·2", "not ·3", "good ·4"]
    assert colour_range(maps[1]) == (0, 1)
    expected = run.states(0, "forward", "forget_gate")[:, :64].T
    # the chart carries each value as its hover shows it: rounded to PLOT_DECIMALS
    np.testing.assert_array_equal(
        z_values(forget), np.round(expected.astype(np.float64), PLOT_DECIMALS)
    )
    assert colour_range(maps[-1]) == (-1, 1)


def test_typing_a_sentence_and_pressing_run_redraws_every_heatmap():
    at = page()
    at.text_input(key="text").set_value("not bad at all")
    at.button[0].click().run()
    assert_clean(at)
    for figure in heatmaps(at):
        assert figure["heatmap"]["x"] == ["not ·0", "bad ·1", "at ·2", "all ·3"]
    assert at.query_params["text"] == "not bad at all"


def test_a_language_model_shows_its_top_5_next_characters_beside_short_texts_and_atop_the_grid_past_40():
    model = rnnviz.load("shakespeare-char-lstm")
    short, long = "To be, or not", "First Citizen: Before we proceed any further, hear me speak."
    at = page(model="shakespeare-char-lstm", text=short)
    assert_clean(at)
    table, grid = charts(at)
    assert (
        table["data"][0]["x"] == token_labels(list(short))
        and table["data"][0]["texttemplate"] == "%{text}"
    )
    assert len(heatmaps(at)) == 6

    at = page(model="shakespeare-char-lstm", text=long)
    assert_clean(at)
    (grid,) = charts(at)  # one chart: the table is the grid's first row
    table = grid["data"][0]
    assert table["legendgroup"] == NEXT_TOKENS_GROUP
    layout = grid["layout"]
    axes = {t["xaxis"] for t in grid["data"]}
    # every panel on one token axis (the first panel's), which each of them writes under itself
    assert all(a == "x" or layout["xaxis" + a[1:]]["matches"] == "x" for a in axes)
    run = inspect_text(model, long)
    likeliest = np.sort(run.predictions.astype(np.float64), axis=1)[:, ::-1][:, :5].T
    np.testing.assert_array_equal(np.asarray(table["z"]), np.round(likeliest, PLOT_DECIMALS))
    assert any("first row of the heatmaps" in c.value for c in at.caption)
    assert [m["heatmap"]["x"] for m in heatmaps(at)] == [token_labels(list(long))] * 6

    at.button(key="sample").click().run()
    assert_clean(at)
    assert at.code[0].value.startswith(long) and len(at.code[0].value) == len(long) + 120


def test_a_shared_link_restores_model_view_unit_step_and_ordering():
    at = page(view="inspector", unit=5, step=3, order="variance", units_shown=16)
    assert_clean(at)
    assert "Unit 5" in at.subheader[0].value and "not ·3" in at.subheader[0].value
    inspector_map = heatmaps(at)[-1]
    selected = [t for t in inspector_map["over"] if t.get("name") == "selected"][0]
    assert selected["x"] == ["not ·3"] and selected["y"] == ["5"]
    run = inspect_text(rnnviz.load("sst2-lstm"), "the movie was not good")
    variances = run.states(0, "forward", "hidden").var(axis=0)
    shown = [int(u) for u in inspector_map["heatmap"]["y"]]
    busiest = list(np.argsort(-variances, kind="stable")[:16])
    # the 16 busiest units, and the selected unit kept in view even when it is not among them
    assert shown == busiest + ([] if 5 in busiest else [5])
    # and the URL keeps saying so
    assert at.query_params["view"] == "inspector" and at.query_params["unit"] == "5"


def test_a_link_with_nonsense_opens_on_defaults_with_a_notice():
    at = page(model="no-such-model", layer="x", unit=99999, view="nowhere", bogus=1)
    assert_clean(at)
    notices = " ".join(w.value for w in at.warning)
    for expected in ("unknown model", "layer", "unit", "view", "bogus"):
        assert expected in notices
    assert len(heatmaps(at)) == 6


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_gets_a_friendly_prompt(text):
    at = page(text=text)
    assert_clean(at)
    assert any("Type a sentence" in i.value for i in at.info)
    assert not heatmaps(at)


def test_overlong_text_is_truncated_with_a_notice():
    at = page()
    at.text_input(key="text").set_value("good " * 500)
    at.button[0].click().run()
    assert_clean(at)
    assert any("only the first" in w.value for w in at.warning)


def test_markup_in_the_text_is_shown_as_text():
    at = page(text="<script>alert(1)</script> <b>good</b>", view="inspector")
    assert_clean(at)
    coloured = [m.value for m in at.markdown if "font-family:monospace" in m.value][0]
    assert "<script" not in coloured and "<b>" not in coloured and "</script" not in coloured
    assert "&lt;" in coloured and "&gt;" in coloured


def test_emoji_and_control_characters_are_marked_unknown_not_fatal():
    at = page(text="great 🎬\x07 film ✨")
    assert_clean(at)
    assert any("vocabulary" in c.value for c in at.caption)
    assert "⟨unk⟩" in "".join(heatmaps(at)[0]["heatmap"]["x"])


def test_compare_view_overlays_both_prediction_curves_and_a_difference_heatmap():
    at = page(view="compare", text="the movie was not good", text2="the movie was good", unit="0")
    assert_clean(at)
    figures = charts(at)
    curves = figures[0]
    assert len(curves["data"]) == 2
    difference = figures[1]["data"][0]
    # aligned at the end: "movie was not good" vs "the movie was good" over 4 positions
    assert len(difference["x"]) == 4
    first = inspect_text(rnnviz.load("sst2-lstm"), "the movie was not good").states(
        0, "forward", "hidden"
    )
    second = inspect_text(rnnviz.load("sst2-lstm"), "the movie was good").states(
        0, "forward", "hidden"
    )
    np.testing.assert_allclose(z_values(difference), (second - first[1:])[:, :64].T, atol=1e-6)


def fused_hidden_states(name: str, text: str) -> np.ndarray:
    """[time, units]: h of a one-layer classifier, from its embedding and fused nn.LSTM/GRU/RNN."""
    model = rnnviz.load(name)
    ids = torch.tensor([model.tokenizer.encode(text).ids])
    with torch.no_grad():
        outputs, _ = model.module.rnn(model.module.embedding(ids))
    return outputs[0].double().numpy()


def test_trajectory_view_draws_each_tokens_hidden_state_at_its_first_two_principal_components():
    text = "the movie was not good"
    at = page(view="trajectory", text=text)
    assert_clean(at)
    chart = charts(at)[0]
    path = chart["data"][0]
    assert path["text"] == ["the", "movie", "was", "not", "good"]
    # independent PCA: eigenvectors of the covariance matrix (the view uses an SVD of the states)
    hidden = fused_hidden_states("sst2-lstm", text)
    centred = hidden - hidden.mean(axis=0)
    variances, vectors = np.linalg.eigh(centred.T @ centred)
    variances, vectors = variances[::-1], vectors[:, ::-1]
    expected = centred @ vectors[:, :2]
    for axis, key in enumerate(["x", "y"]):
        drawn = plotted(path, key)
        sign = np.sign(drawn @ expected[:, axis])  # a principal axis has no preferred sign
        np.testing.assert_allclose(drawn, sign * expected[:, axis], atol=1e-4)
        share = variances[axis] / variances.sum()
        title = chart["layout"][f"{key}axis"]["title"]["text"]
        assert title == f"PC {axis + 1} ({share:.0%} of variance)", title


def test_lecture_view_shows_the_cell_diagram_and_equations_at_the_chosen_step():
    at = page(view="lecture", step=2, unit=3)
    assert_clean(at)
    assert any('<span class="current">was</span>' in m.value for m in at.markdown)
    diagram = charts(at)[0]
    texts = " ".join(a.get("text", "") for a in diagram["layout"]["annotations"])
    run = inspect_text(rnnviz.load("sst2-lstm"), "the movie was not good")
    forget = run.states(0, "forward", "forget_gate")
    written = lambda v: f"{v:.2f}".replace("-", "−")  # noqa: E731 — a true minus sign
    assert f"unit {written(forget[2, 3])}" in texts and f"mean {written(forget[2].mean())}" in texts
    assert len(at.latex) >= 6 + 2
    at.button(key="step_forward").click().run()
    assert at.query_params["step"] == "3"


def downloads(monkeypatch, at: AppTest) -> dict[str, bytes]:
    """Run `at` and read every download button's file, by label, as a click would produce it: the
    page hands Streamlit deferred callables, recorded here as they are registered."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    registered = {}
    register = MediaFileManager.add_deferred

    def recording(self, data_callable, *args, **kwargs):
        file_id = register(self, data_callable, *args, **kwargs)
        registered[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)
    at.run()
    assert_clean(at)
    files = {}
    for button in at.get("download_button"):
        data = registered[button.proto.deferred_file_id]()
        files[button.label] = data.encode() if isinstance(data, str) else data
    return files


def test_export_view_downloads_hold_every_quantity_as_the_recurrence_computes_it(monkeypatch):
    import csv
    import io

    from reference import reference_states

    from rnnviz.core.quantities import LABELS

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["view"] = "export"
    files = downloads(monkeypatch, at)
    assert len(files) == 2 + 2 * 6
    model = rnnviz.load("sst2-lstm")
    ids = torch.tensor(model.tokenizer.encode("the movie was not good").ids)
    with torch.no_grad():
        reference = reference_states(model.module.rnn, model.module.embedding(ids))
    for quantity in ["input_gate", "forget_gate", "cell_gate", "output_gate", "cell", "hidden"]:
        rows = list(
            csv.reader(
                io.StringIO(files[f"{LABELS[quantity]} — values of all 256 units (CSV)"].decode())
            )
        )
        assert rows[0] == ["unit", "0:the", "1:movie", "2:was", "3:not", "4:good"]
        units = [int(row[0]) for row in rows[1:]]
        assert sorted(units) == list(range(256))
        values = np.array([[float(v) for v in row[1:]] for row in rows[1:]])  # [unit, token]
        expected = reference[f"layer0.forward.{quantity}"].numpy().T[units]
        np.testing.assert_allclose(values, expected, rtol=2e-5, atol=2e-6)  # 6 significant digits
    with np.load(io.BytesIO(files["trace (NPZ)"]), allow_pickle=False) as npz:
        stored = {name: npz[name] for name in npz.files}
    hidden = [v for name, v in stored.items() if name.endswith("hidden") and "layer0" in name]
    assert len(hidden) == 1, sorted(stored)
    np.testing.assert_allclose(
        hidden[0].reshape(5, 256), reference["layer0.forward.hidden"].numpy(), atol=1e-5
    )


def test_exported_heatmaps_are_the_values_without_the_click_layer():
    from reference import reference_states

    from rnnviz.app.state import ViewState
    from rnnviz.app.views.export import heatmap_figures

    model = rnnviz.load("sst2-lstm")
    run = inspect_text(model, "the movie was not good")
    labels, order, built = heatmap_figures(run, ViewState(unit=7, step=3))
    quantities = ["input_gate", "forget_gate", "cell_gate", "output_gate", "cell", "hidden"]
    assert [quantity for quantity, _, _ in built] == quantities
    assert len(set(order.tolist())) == len(order) and set(order.tolist()) <= set(range(256))
    ids = torch.tensor(model.tokenizer.encode("the movie was not good").ids)
    with torch.no_grad():
        reference = reference_states(model.module.rnn, model.module.embedding(ids))
    for quantity, _, figure in built:
        assert [t.name for t in figure.data] == [
            quantity,
            "selected",
        ]  # a standalone file has nothing to click
        # rows: the shown units in the shown order; columns: tokens; values: the recurrence's own
        expected = reference[f"layer0.forward.{quantity}"].numpy().T[order]
        np.testing.assert_allclose(
            np.asarray(figure.data[0].z, dtype=np.float64), expected, atol=1e-5
        )


@pytest.mark.parametrize("name, quantities", [("sst2-gru", 4), ("sst2-rnn", 1), ("sst2-bilstm", 6)])
def test_every_bundled_model_opens_with_its_own_quantities(name, quantities):
    if name not in bundled_names():
        pytest.skip(f"{name} is not bundled")
    at = page(model=name)
    assert_clean(at)
    assert len(heatmaps(at)) == quantities
    if name == "sst2-bilstm":
        at = page(model=name, layer=1, direction="backward")
        assert_clean(at)
        assert "layer 1, backward" in " ".join(m.value for m in at.markdown)  # under the badge


def test_changing_layer_and_ordering_in_the_sidebar_updates_the_link():
    at = page()
    at.selectbox(key="order").set_value("clustering").run()
    at.number_input(key="unit_box").set_value(7).run()
    assert_clean(at)
    assert at.query_params["order"] == "clustering" and at.query_params["unit"] == "7"


def perturbed_gradient_norms(name: str, text: str) -> tuple[float, int, np.ndarray]:
    """(y, its class, ‖∂y/∂h_t‖ per t) for a one-layer LSTM classifier with a head on the last h:
    y the predicted class's logit; the fused nn.LSTM run up to t, δ added to h_t (c_t kept), then
    continued, and autograd asked for ∂y/∂δ (no step-by-step re-execution as the view uses)."""
    model = rnnviz.load(name)
    module = model.module
    inputs = module.embedding(torch.tensor([model.tokenizer.encode(text).ids])).detach()
    with torch.no_grad():
        logits = module(torch.tensor([model.tokenizer.encode(text).ids]))[0]
    target = int(logits.argmax())
    norms = []
    for t in range(inputs.shape[1]):
        _, (h, c) = module.rnn(inputs[:, : t + 1])
        delta = torch.zeros_like(h, requires_grad=True)
        state = (h + delta, c)
        rest = inputs[:, t + 1 :]
        last = module.rnn(rest, state)[0][:, -1] if rest.shape[1] else state[0][0]
        (grad,) = torch.autograd.grad(module.head(last)[0, target], delta)
        norms.append(float(grad.norm()))
    return float(logits[target]), target, np.array(norms)


def test_gradients_view_states_the_output_and_draws_the_gradient_reaching_each_step():
    at = page(view="gradients")
    assert_clean(at)
    y, target, norms = perturbed_gradient_norms("sst2-lstm", "the movie was not good")
    assert at.selectbox(key="grad_class").value == target  # the predicted class by default
    summary = next(m.value for m in at.markdown if m.value.startswith("y = "))
    assert f"= **{y:.4f}**" in summary, summary
    lines = next(
        chart
        for chart in charts(at)
        if "gradient norm per timestep" in chart["layout"]["title"]["text"]
    )
    np.testing.assert_allclose(plotted(lines["data"][0], "y"), norms, rtol=1e-4)  # ‖∂y/∂h_t‖
    completeness = next(c.value for c in at.caption if c.value.startswith("Completeness"))
    assert f"y(x) − y(baseline) = {y:.4f} − " in completeness, completeness


def test_training_lab_view_opens_on_the_lessons_contrast_and_counts_this_servers_free_slots():
    import os

    at = page(view="lab")
    assert_clean(at)
    assert at.button(key="lab_train").label == "Train" and at.button(key="lab_stop").disabled
    # the README's contrast: an LSTM at N = 60 by default, the RNN one click away
    assert at.radio(key="lab_cell").value == "lstm" and at.slider(key="lab_n").value == 60
    assert list(at.radio(key="lab_cell").options) == ["RNN (tanh)", "GRU", "LSTM"]
    # half the cores this process may use, unless RNNVIZ_LAB_JOBS says otherwise; none training yet
    slots = int(os.environ.get("RNNVIZ_LAB_JOBS") or max(1, len(os.sched_getaffinity(0)) // 2))
    assert any(
        f"On this server 0 of {slots} training slots are in use." in i.value for i in at.info
    )


def test_corpus_view_reads_the_dev_split_and_selects_the_units_on_at_the_busiest_token():
    import csv

    from conftest import SST2_DIR

    at = page(view="corpus")
    assert_clean(at)
    if not (SST2_DIR / "dev.tsv").is_file():  # no data here: the view says how to give it a corpus
        assert at.text_area(key="corpus_paste") is not None
        assert any("RNNVIZ_DATA_DIR" in i.value or "data" in i.value for i in at.info)
        return
    model = rnnviz.load("sst2-lstm")
    with open(SST2_DIR / "dev.tsv", newline="", encoding="utf-8") as f:
        sentences = [
            r["sentence"].strip() for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    lengths = [len(model.tokenizer.encode(s).ids) for s in sentences if s]
    lengths = [n for n in lengths if n]
    caption = next(c.value for c in at.caption if c.value.startswith("sst2-lstm on "))
    assert caption.startswith(
        f"sst2-lstm on sst2-dev: {sum(lengths):,} tokens in {len(lengths):,} segments, layer 0 forward h"
    ), caption
    assert at.radio(key="corpus_section").value == "Pattern search"
    # LSTMVis's select: units with h ≥ 0.3 at the token and < 0.3 at its neighbours, at the token
    # where most units switch on
    hidden = fused_hidden_states("sst2-lstm", "the movie was not good")
    on = hidden >= 0.3
    outside = np.zeros((1, on.shape[1]), dtype=bool)  # before the first token, after the last: off
    before, after = np.vstack([outside, on[:-1]]), np.vstack([on[1:], outside])
    selected = [
        [int(u) for u in np.flatnonzero(on[t] & ~before[t] & ~after[t])] for t in range(len(on))
    ]
    units = max(selected, key=len)
    shown = next(m.value for m in at.markdown if "units selected**" in m.value)
    assert shown.startswith(
        f"**{len(units)} units selected**: {', '.join(map(str, units[:40]))}"
    ), shown


def test_a_link_naming_an_unknown_model_opens_the_default_model_and_says_so():
    at = page(model="no-such-model")
    assert_clean(at)
    assert at.session_state["model"] == "sst2-lstm"
    assert any("unknown model 'no-such-model', showing sst2-lstm" in w.value for w in at.warning)


def test_without_a_unit_in_the_link_the_page_shows_the_unit_whose_cell_state_varies_most_and_says_why():
    at = page(view="lecture")
    assert_clean(at)
    run = inspect_text(rnnviz.load("sst2-lstm"), "the movie was not good")
    busiest = int(np.argmax(run.states(0, "forward", "cell").var(axis=0)))
    assert at.session_state["unit"] == busiest
    assert any(
        f"Unit {busiest} is shown because its cell state c varies most" in c.value
        for c in at.caption
    )
    at.number_input(key="unit_box").set_value(3).run()  # chosen by hand: kept
    assert at.session_state["unit"] == 3 and any("Unit 3, as chosen" in c.value for c in at.caption)


def test_the_csv_export_holds_every_unit_and_says_so():
    at = page(view="export", units_shown="16", unit="0")
    assert_clean(at)
    assert any("the CSV files hold all 256 units" in c.value for c in at.caption)
    labels = [b.label for b in at.get("download_button")]
    assert "hidden state h — values of all 256 units (CSV)" in labels


def test_switching_to_the_character_model_gives_it_a_passage_of_its_own_kind():
    at = page()
    at.selectbox(key="model").set_value("shakespeare-char-lstm").run()
    assert_clean(at)
    assert at.session_state["text"].startswith("First Citizen")


def test_every_run_states_how_closely_the_page_matches_pytorch():
    import re

    at = page()
    assert_clean(at)
    badge = [m.value for m in at.markdown if "matches PyTorch to" in m.value]
    assert badge and ":green-badge[" in badge[0]
    # the claim recomputed here: the quantities the page shows against the fused module's own outputs
    # (its h at every step, its final c, and h rebuilt from the gates as o ⊙ tanh(c))
    model = rnnviz.load("sst2-lstm")
    run = inspect_text(model, "the movie was not good")
    with torch.no_grad():
        inputs = model.module.embedding(torch.tensor([run.encoding.ids]))
        outputs, (_, c_n) = model.module.rnn(inputs)
    shown = {
        q: run.states(0, "forward", q).astype(np.float64) for q in ("hidden", "cell", "output_gate")
    }
    fused_h, fused_c = outputs[0].double().numpy(), c_n[0, 0].double().numpy()
    largest = max(
        np.abs(shown["hidden"] - fused_h).max(),
        np.abs(shown["cell"][-1] - fused_c).max(),
        np.abs(shown["output_gate"] * np.tanh(shown["cell"]) - fused_h).max(),
    )
    assert largest <= 1e-5
    written = re.search(r"matches PyTorch to ([^\]]+)\]", badge[0]).group(1)  # "2.4 × 10⁻⁸" or "0"
    mantissa, _, power = written.partition(" × 10")
    power = power.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")) or "0"
    decimals = len(mantissa.partition(".")[2])
    last_digit = 10.0 ** (int(power) - decimals)  # the number as written is rounded to this
    assert abs(float(mantissa) * 10 ** int(power) - largest) <= last_digit / 2 * 1.001, (
        written,
        largest,
    )


def test_a_run_that_matches_pytorch_bit_for_bit_says_exactly_not_to_zero():
    from rnnviz.core.exactness import run_exactness

    model = rnnviz.load("sst2-rnn")  # its h is the module's own output: no difference at all
    assert run_exactness(model, inspect_text(model, "the movie was not good")).max_abs_error == 0
    at = page(model="sst2-rnn")
    assert_clean(at)
    badges = [m.value for m in at.markdown if "matches PyTorch" in m.value]
    assert badges and "matches PyTorch exactly (0)" in badges[0] and "PyTorch to" not in badges[0]


def test_a_backward_lecture_opens_at_the_last_token_and_a_link_keeps_its_token():
    at = page(model="sst2-bilstm", view="lecture", direction="backward")
    assert_clean(at)
    assert at.session_state["step"] == 4  # "good": the backward direction's first token
    assert any('<span class="current">good</span>' in m.value for m in at.markdown)
    assert (
        page(model="sst2-bilstm", view="lecture", direction="backward", step="2").session_state[
            "step"
        ]
        == 2
    )


def test_the_lecture_bars_keep_the_models_class_order_and_a_backward_reading_shows_its_suffix():
    model = rnnviz.load("sst2-bilstm")
    at = page(model="sst2-bilstm", view="lecture", direction="backward", step="3")
    assert_clean(at)
    bars = next(c for c in charts(at) if c["data"] and c["data"][0].get("type") == "bar")
    assert bars["data"][0]["y"] == ["negative", "positive"]  # the model's order, not by probability
    assert "'not' … the end" in bars["layout"]["title"]["text"]
    # what the backward layer has read at 'not' is "not good": the model run on that text alone
    alone = inspect_text(model, "not good").predictions[-1]
    np.testing.assert_allclose(bars["data"][0]["x"], alone, atol=1e-5)


def test_the_memory_view_draws_retention_as_the_product_of_forget_gates():
    at = page(view="memory", unit="17")
    assert_clean(at)
    unit_chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    z = np.array(
        [[np.nan if v is None else v for v in row] for row in unit_chart["data"][0]["z"]],
        dtype=float,
    )
    forget = inspect_text(rnnviz.load("sst2-lstm"), "the movie was not good").states(
        0, "forward", "forget_gate"
    )[:, 17]
    assert z[1, 4] == pytest.approx(
        float(np.prod(forget[2:5])), abs=1e-3
    )  # written at 'movie', read at 'good'
    assert z[0, 0] == pytest.approx(1.0) and np.isnan(z[4, 0])  # memory does not reach back


def test_untrained_weights_are_seeded_kept_in_the_link_and_differ_from_the_trained_ones():
    trained = heatmaps(page(unit="0"))[0]["heatmap"]
    at = page(weights="untrained", seed="3", unit="0")
    assert_clean(at)
    untrained = heatmaps(at)[0]["heatmap"]
    again = heatmaps(page(weights="untrained", seed="3", unit="0"))[0]["heatmap"]
    assert not np.allclose(z_values(trained), z_values(untrained))
    np.testing.assert_array_equal(z_values(untrained), z_values(again))
    assert any("Freshly initialised weights (seed 3)" in i.value for i in at.info)
    assert at.query_params["weights"] == ["untrained"] or at.query_params["weights"] == "untrained"


def test_the_textbook_gru_notation_shows_one_minus_pytorchs_z_everywhere_it_writes_z():
    run = inspect_text(rnnviz.load("sst2-gru"), "the movie was not good")
    pytorch_z = run.states(0, "forward", "update_gate")[:, :64].T
    at = page(model="sst2-gru", gru_update="textbook", unit="3", step="2", view="lecture")
    assert_clean(at)
    shown = [
        m
        for m in heatmaps(page(model="sst2-gru", gru_update="textbook", unit="3"))
        if m["heatmap"]["name"] == "update_gate"
    ][0]
    np.testing.assert_allclose(
        z_values(shown["heatmap"]), np.round(1 - pytorch_z, PLOT_DECIMALS), atol=1e-6
    )
    assert "textbook" in shown["title"]
    latex = [element.value for element in at.latex]
    assert any(r"h_t = z_t \odot n_t + (1 - z_t) \odot h_{t-1}" in line for line in latex)
    z = 1 - run.states(0, "forward", "update_gate")[2, 3]
    assert any(rf"&= {z:.3f} \cdot" in line for line in latex), latex


def test_the_lessons_symbols_and_the_candidate_as_c_tilde_reach_titles_and_equations():
    at = page(view="lecture", candidate="c~", symbols="S", unit="3", step="1")
    assert_clean(at)
    latex = " ".join(element.value for element in at.latex)
    assert r"\tilde{c}_i" in latex and "S_i = o_i" in latex and "X_i" in latex
    titles = [m["title"] for m in heatmaps(page(candidate="c~", symbols="S", unit="3"))]
    assert "cell candidate c̃" in titles and "hidden state S" in titles


def test_the_inspector_offers_the_units_whose_ablation_moves_the_prediction_most():
    from reference import reference_states

    at = page(view="inspector", step="3", unit="0")
    assert_clean(at)
    # ranked only once asked: its expander closed, nothing is computed or offered
    assert not [b for b in at.button if b.label.startswith("unit ")]
    at.session_state["units_that_matter"] = True  # opened
    at.run()
    assert_clean(at)
    # independently: each cell unit set to 0 at "not" (step 3) inside the step-by-step reference, the
    # rest of the sentence read on, and the change in p(the unedited prediction) after "good"
    model = rnnviz.load("sst2-lstm")
    head = model.module.head
    with torch.no_grad():
        inputs = model.module.embedding(
            torch.tensor(model.tokenizer.encode("the movie was not good").ids)
        )

        def final_probabilities(edit=lambda name, t, steps, value: value) -> torch.Tensor:
            h = reference_states(model.module.rnn, inputs, edit=edit)["layer0.forward.hidden"][-1]
            return torch.softmax(head.weight.double() @ h + head.bias.double(), -1)

        def cell_unit_zeroed(unit: int):
            def edit(name, t, steps, value):
                if name == "layer0.forward.cell" and t == 3:
                    value = value.clone()
                    value[unit] = 0.0
                return value

            return edit

        baseline = final_probabilities()
        chosen = int(baseline.argmax())
        effects = np.array(
            [
                float(final_probabilities(cell_unit_zeroed(u))[chosen] - baseline[chosen])
                for u in range(256)
            ]
        )
    strongest = [int(u) for u in np.argsort(-np.abs(effects), kind="stable")[:8]]
    offered = [b.label for b in at.button if b.label.startswith("unit ")]
    assert offered == [f"unit {u}" for u in strongest], (offered, effects[strongest])
    at.button(key=f"matter_{strongest[0]}").click().run()
    assert at.session_state["unit"] == strongest[0]
