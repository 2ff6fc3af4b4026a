"""Any PyTorch model with recurrent submodules opens through a Python entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from rnnviz.analysis.inspection import inspect_text
from rnnviz.analysis.retention import text_retention
from rnnviz.errors import RnnvizError
from rnnviz.models.custom import CustomModel, load_entry_point

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SPEC = "custom_entry_point:build_model"


def test_entry_point_model_is_captured_and_its_per_step_predictions_kept():
    model = load_entry_point(SPEC)
    assert isinstance(model, CustomModel)
    run = inspect_text(model, "rnn viz!")
    assert run.tokens == list("rnn viz!") and run.encoding.unknown[3] and run.encoding.unknown[-1]
    assert (
        run.recurrent_call.path == "encoder"
        and run.recurrent_call.bidirectional
        and run.recurrent_call.num_layers == 2
    )
    assert run.states(1, "backward", "update_gate").shape == (8, 12)
    with torch.no_grad():
        logits = model.module(torch.tensor([run.encoding.ids]))
    np.testing.assert_allclose(run.predictions, torch.softmax(logits[0], -1).numpy(), atol=1e-6)
    # the trace's last-layer states are what the classifier read
    states = np.concatenate(
        [run.states(1, "forward", "hidden"), run.states(1, "backward", "hidden")], axis=1
    )
    np.testing.assert_allclose(
        model.module.classify(torch.from_numpy(states)).detach().numpy(),
        logits[0].numpy(),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("custom_entry_point", "package.module:function"),
        ("no_such_module_xyz:build", "cannot import"),
        ("custom_entry_point:missing", "has no 'missing'"),
        ("custom_entry_point:not_a_model", "return an rnnviz.CustomModel"),
    ],
)
def test_bad_entry_points_get_a_message(spec, message):
    with pytest.raises(RnnvizError, match=message):
        load_entry_point(spec)


@pytest.fixture
def app_with_entry_point(monkeypatch):
    """The app as `rnnviz app --model custom_entry_point:build_model` starts it (the model list is
    cached per process, so the cache is cleared before and after)."""
    import streamlit as st

    monkeypatch.setattr(sys, "argv", ["app.py", "--model", SPEC])
    st.cache_resource.clear()
    yield AppTest.from_file(APP, default_timeout=60)
    st.cache_resource.clear()


def test_the_app_offers_the_entry_point_model_with_its_own_quantities(app_with_entry_point):
    at = app_with_entry_point
    at.query_params["model"] = "vowel-tagger"
    at.query_params["text"] = "hello world"
    at.query_params["layer"] = "1"
    at.query_params["direction"] = "backward"
    at.run()
    assert not at.exception, at.exception
    assert "vowel-tagger" in at.selectbox(key="model").options
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (grid,) = charts  # the class curves are the grid's first row
    assert [t["name"] for t in grid["data"] if t.get("legendgroup") == "predictions"] == [
        "consonant",
        "vowel",
    ]
    titles = [a["text"] for a in grid["layout"]["annotations"]]
    assert [t for t in titles if not t.startswith("prediction after each token")] == [
        "reset gate r",
        "update gate z",
        "candidate n",
        "hidden state h",
    ]
    heatmaps = [t for t in grid["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 4 and all(len(t["x"]) == len("hello world") for t in heatmaps)
    assert "layer 1, backward" in " ".join(m.value for m in at.markdown)  # under the badge
    at.session_state["view"] = "gradients"
    at.run()
    assert any("bundled format" in i.value for i in at.info)


def test_the_app_opens_a_cell_loop_model_from_an_entry_point_on_that_model(monkeypatch):
    import streamlit as st

    monkeypatch.setattr(sys, "argv", ["app.py", "--model", "custom_entry_point:build_cell_model"])
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["text"] = "hello"
        at.query_params["direction"] = "backward"
        at.run()
        assert not at.exception, at.exception
        assert at.selectbox(key="model").value == "cell-tagger"  # the model given, not sst2-lstm
        (chart,) = at.get("plotly_chart")  # the class curves are the grid's first row
        grid = json.loads(chart.proto.spec)
        titles = [a["text"] for a in grid["layout"]["annotations"]]
        assert [t for t in titles if not t.startswith("prediction after each token")] == [
            "input gate i",
            "forget gate f",
            "cell candidate g",
            "output gate o",
            "cell state c",
            "hidden state h",
        ]
        assert "layer 0, backward" in " ".join(m.value for m in at.markdown)
        assert any("matches PyTorch to" in m.value for m in at.markdown)  # the exactness badge
    finally:
        st.cache_resource.clear()


def test_entry_points_may_hold_cells_in_a_loop_and_a_model_without_any_recurrence_is_refused(
    monkeypatch,
):
    import custom_entry_point

    model = load_entry_point("custom_entry_point:build_cell_model")
    run = inspect_text(model, "abcd")
    assert run.recurrent_call.cell_kind == "lstm" and run.recurrent_call.bidirectional
    # retention reads the loop's forget gates like a layer's: R[s→t] = ∏_{k=s+1..t} f_k
    forget = run.states(0, "forward", "forget_gate")[:, 2]
    retained = text_retention(run, 0, "forward", unit=2).unit_matrix
    assert np.isclose(retained[0, 3], forget[1] * forget[2] * forget[3], atol=1e-6)
    # the backward cell's memory runs towards earlier tokens: R[s→t] = ∏_{k=t..s−1} f_k
    backward = run.states(0, "backward", "forget_gate")[:, 2]
    retained = text_retention(run, 0, "backward", unit=2).unit_matrix
    assert np.isclose(retained[3, 1], backward[1] * backward[2], atol=1e-6)
    monkeypatch.setattr(
        custom_entry_point,
        "nothing",
        lambda: CustomModel(torch.nn.Linear(2, 2), custom_entry_point.encode),
        raising=False,
    )
    with pytest.raises(RnnvizError, match="no nn.*Cell and no rnnviz.HookPoint"):
        load_entry_point("custom_entry_point:nothing")
