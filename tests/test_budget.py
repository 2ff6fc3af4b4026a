"""Issue 21: a run's cost known before it runs, one byte-counted memory budget per server, and the
page refusing or reducing what would not fit, with a notice."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import rnnviz
from rnnviz.analysis.corpus import prune_cache
from rnnviz.analysis.cost import Limits, held_bytes, model_size, plan_run, trace_bytes
from rnnviz.analysis.inspection import inspect_text
from rnnviz.app import budget
from rnnviz.app.budget import MemoryBudget
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel, ModelConfig, build_module
from rnnviz.models.tokenizers import CharTokenizer

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ROOMY = Limits(run_bytes=2**30, seconds=3600.0)
SENTENCE = "the movie was not good at all , and the actors were worse than the plot " * 6


def size_of(loaded: LoadedModel):
    outputs = len(loaded.config.labels or ()) or loaded.config.vocab_size
    return model_size(loaded.module, loaded.module.rnn, loaded.config.task, outputs)


@pytest.mark.parametrize("name", ["sst2-lstm", "sst2-gru", "sst2-bilstm", "shakespeare-char-lstm"])
def test_the_planned_bytes_are_the_measured_bytes_of_a_real_run(name):
    loaded = rnnviz.load(name)
    run = inspect_text(loaded, SENTENCE, limits=ROOMY)
    plan = plan_run(size_of(loaded), len(run.tokens), ROOMY)
    measured = sum(t.untyped_storage().nbytes() for t in _storages(run)) + run.predictions.nbytes
    assert plan.bytes == measured
    assert held_bytes(run) == measured


def _storages(run):
    """One tensor per distinct storage of the run's trace (the gates of a layer share one)."""
    seen = {}
    for tensor in run.trace.tensors.values():
        seen.setdefault(tensor.untyped_storage().data_ptr(), tensor)
    return list(seen.values())


def big_vocabulary_model(vocabulary: int = 50_000) -> LoadedModel:
    """Issue 21's hostile language model: a huge vocabulary behind one unit."""
    itos = ["<pad>", "<unk>", *(chr(0x10000 + i) for i in range(vocabulary - 2))]
    config = ModelConfig(
        name="wide",
        description="a wide vocabulary",
        task="language_model",
        cell_kind="lstm",
        vocab_size=vocabulary,
        embedding_dim=1,
        hidden_size=1,
    )
    torch.manual_seed(0)
    module = build_module(config).eval()
    return LoadedModel(config, CharTokenizer(itos), module, None)


def test_a_language_model_whose_vocabulary_does_not_fit_keeps_its_top_tokens_exactly():
    loaded = big_vocabulary_model()
    text = "".join(chr(0x10000 + (i * 37) % 40_000) for i in range(300))
    limits = Limits(run_bytes=8 * 2**20, seconds=60.0)  # 300 × 50,000 float32 = 57 MB
    run = inspect_text(loaded, text, limits=limits)
    with torch.no_grad():
        reference = torch.softmax(loaded.module(torch.tensor([run.encoding.ids]))[0], -1).numpy()
    assert run.prediction_ids is not None and run.predictions.nbytes <= limits.run_bytes
    assert np.allclose(run.predictions, reference[:, run.prediction_ids], atol=1e-7)
    for step in (0, 150, 299):
        best = np.argsort(-reference[step], kind="stable")[:5]
        assert [label for label, _ in run.top_outcomes(step)] == [
            loaded.tokenizer.itos[i] for i in best
        ]
    following = run.encoding.ids[1:]
    assert np.allclose(
        run.predictions[np.arange(299), run.prediction_columns(following)],
        reference[np.arange(299), following],
    )
    assert "5 likeliest next tokens" in run.notices[0]


def test_a_language_model_whose_top_tokens_spread_too_wide_is_refused_not_cut_silently():
    loaded = big_vocabulary_model()
    text = "".join(chr(0x10000 + (i * 37) % 40_000) for i in range(300))  # 300 distinct tokens
    size = size_of(loaded)
    limits = Limits(run_bytes=trace_bytes(size, 300) + 300 * 8 * 4, seconds=60.0)
    plan = plan_run(size, 300, limits)
    assert plan.prediction_columns == 8 and plan.bytes <= limits.run_bytes
    with pytest.raises(RnnvizError, match="vocabulary entries, more than the 8 one run may keep"):
        inspect_text(loaded, text, limits=limits)  # the text's own next tokens alone are 300


def test_a_bidirectional_models_prefixes_stop_at_a_length_within_the_time_limit():
    loaded = rnnviz.load("sst2-bilstm")
    size = size_of(loaded)
    tokens = len(loaded.encode(SENTENCE).ids)
    limits = Limits(run_bytes=2**30, seconds=0.1)
    plan = plan_run(size, tokens, limits)
    assert 1 <= plan.prefixes < tokens and plan.seconds <= limits.seconds
    run = inspect_text(loaded, SENTENCE, limits=limits)
    assert run.prefixes == plan.prefixes
    for t in (0, plan.prefixes - 1):  # the model run on the prefix alone
        prefix = torch.tensor([run.encoding.ids[: t + 1]])
        with torch.no_grad():
            expected = torch.softmax(loaded.module(prefix, torch.tensor([t + 1])), -1)[0].numpy()
        assert np.allclose(run.predictions[t], expected, atol=1e-6)
    with torch.no_grad():
        whole = torch.softmax(loaded.module(torch.tensor([run.encoding.ids])), -1)[0].numpy()
    assert np.allclose(run.predictions[-1], whole, atol=1e-6)
    assert np.isnan(run.predictions[plan.prefixes : tokens - 1]).all()
    assert f"the first {plan.prefixes} tokens" in run.notices[0]


def test_a_run_longer_than_the_time_limit_is_refused_before_it_runs(monkeypatch):
    loaded = rnnviz.load("sst2-lstm")
    monkeypatch.setattr(loaded.module, "forward", lambda *a: pytest.fail("the model ran"))
    with pytest.raises(RnnvizError, match="try a text of at most"):
        inspect_text(loaded, SENTENCE, limits=Limits(run_bytes=2**30, seconds=1e-4))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_evicts_the_least_recently_used_by_bytes_and_bounds_a_session():
    clock = Clock()
    kept = MemoryBudget(cache_bytes=4000, session_bytes=2000, clock=clock)
    array = lambda: np.zeros(250, dtype=np.float32)  # noqa: E731 — 1000 bytes
    for key in "abc":
        kept.get(budget.SHARED, key, "alice", array)
    assert kept.session_used("alice") == 2000  # her share: "a" went first
    assert {k for _, k in kept.entries} == {"b", "c"}
    for key in "xy":
        kept.get(budget.SHARED, key, "bob", array)
    kept.get(budget.SHARED, "b", "bob", pytest.fail)  # a hit makes "b" the most recent
    kept.get(budget.SHARED, "z", "bob", array)  # over the caches' 4000: "c"; over bob's share: "x"
    assert kept.used_bytes <= 4000
    assert {k for _, k in kept.entries} == {"b", "y", "z"}
    clock.now += budget.IDLE_SECONDS + 1
    kept.put("carol", "own", "carol", array())
    assert kept.sweep(active=lambda session: True) == 3000  # idle shared entries go
    clock.now += budget.GONE_SECONDS
    kept.sweep(active=lambda session: False)  # carol's browser went away
    clock.now += budget.GONE_SECONDS
    kept.sweep(active=lambda session: False)
    assert kept.used_bytes == 0


def test_the_corpus_cache_on_disk_is_bounded_by_size_and_age(tmp_path):
    for i in range(5):
        path = tmp_path / f"{i}.npz"
        path.write_bytes(bytes(1000))
        os.utime(path, (time.time() - 100 * (5 - i),) * 2)  # 4.npz the newest
    (tmp_path / "old.npz").write_bytes(bytes(10))
    os.utime(tmp_path / "old.npz", (time.time() - 10 * 86400,) * 2)
    removed = prune_cache(tmp_path, max_bytes=3000, max_age_seconds=86400)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2.npz", "3.npz", "4.npz"]
    assert len(removed) == 3


# --- through the page ---------------------------------------------------------------------------


def page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = str(value)
    return at.run()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "20000"])
@pytest.mark.parametrize("kind", ["set", "scale"])
def test_what_if_refuses_a_value_that_is_not_finite_or_out_of_range(value, kind):
    at = page(view="whatif", edit_value=value, edit_kind=kind, text="the movie was not good")
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("outside what an edit can show" in w for w in warnings), warnings
    assert not any("nan%" in m.value for m in at.markdown)


def test_an_over_budget_bidirectional_run_is_reduced_with_a_notice(monkeypatch):
    monkeypatch.setattr(budget, "RUN_SECONDS", 0.1)
    at = page(model="sst2-bilstm", text=SENTENCE.strip())
    assert not at.exception
    notices = [i.value for i in at.info]
    assert any("predictions are computed after the first" in n for n in notices), notices
    assert at.get("plotly_chart")  # the page still draws the run


def test_an_over_budget_run_is_refused_with_a_message(monkeypatch):
    monkeypatch.setattr(budget, "RUN_SECONDS", 1e-4)
    at = page(model="sst2-lstm", text="a different sentence for this test " * 4)
    assert not at.exception
    assert any("try a text of at most" in w.value for w in at.warning), [
        w.value for w in at.warning
    ]


def test_a_session_may_keep_a_bounded_number_of_uploads(monkeypatch):
    from rnnviz.app import catalogue

    class Uploaded:  # what st.file_uploader hands the "Load my model" callback
        def __init__(self, path: Path):
            self.data = path.read_bytes()

        def getvalue(self) -> bytes:
            return self.data

    bundle = Path(rnnviz.models.architectures.PRETRAINED_DIR) / "sst2-gru"
    state = {
        "upload_config": Uploaded(bundle / "config.json"),
        "upload_weights": Uploaded(bundle / "model.safetensors"),
        "uploads": {f"upload: earlier {i}": None for i in range(budget.MAX_UPLOADS_PER_SESSION)},
    }
    monkeypatch.setattr(catalogue.st, "session_state", state)
    catalogue.load_uploaded_model()
    assert state["upload_message"].startswith(
        "Could not keep the model: this session already holds"
    )
    assert len(state["uploads"]) == budget.MAX_UPLOADS_PER_SESSION
    del state["uploads"]["upload: earlier 0"]
    catalogue.load_uploaded_model()
    assert state["upload_message"] == "" and "upload: sst2-gru" in state["uploads"]


LONG_TEXT = "to be or not to be that is the question " * 10  # 400 characters: heavy on a char model


def final_prediction_by_the_module(loaded: LoadedModel, run) -> np.ndarray:
    """The independent reference: the module's own forward over the whole text."""
    with torch.no_grad():
        return torch.softmax(loaded.module(torch.tensor([run.encoding.ids])), -1)[0].numpy()


def test_a_light_run_passes_the_gate_while_heavy_runs_hold_it_and_queue():
    import threading

    gate = budget.AdmissionGate(1)
    heavy_model, light_model = rnnviz.load("shakespeare-char-lstm"), rnnviz.load("sst2-lstm")
    first_inside, release_first, second_queued = (threading.Event() for _ in range(3))
    events, waits = [], []

    def heavy(name: str) -> None:
        def while_waiting(ahead: int) -> None:
            waits.append((name, ahead))
            second_queued.set()

        with gate.admitted(True, while_waiting):
            events.append(f"{name} runs")
            inspect_text(heavy_model, LONG_TEXT)
            if name == "first":
                first_inside.set()
                assert release_first.wait(timeout=120)
            events.append(f"{name} done")

    first = threading.Thread(target=heavy, args=("first",))
    second = threading.Thread(target=heavy, args=("second",))
    first.start()
    assert first_inside.wait(timeout=120)
    second.start()
    assert second_queued.wait(timeout=120)

    def never(ahead: int) -> None:
        raise AssertionError("a light run waited at the gate")

    with gate.admitted(False, never):  # while the slot is taken and a heavy run waits for it
        light = inspect_text(light_model, "the movie was not good")
    events.append("light done")
    release_first.set()
    first.join(timeout=120)
    second.join(timeout=120)
    assert events == ["first runs", "light done", "first done", "second runs", "second done"]
    assert waits and all(w == ("second", 1) for w in waits)  # one run ahead of it: the first
    assert gate.running == gate.waiting == 0
    reference = final_prediction_by_the_module(light_model, light)
    assert np.allclose(light.predictions[-1], reference, atol=1e-6)


def test_the_page_draws_a_sentence_while_every_heavy_slot_is_taken_and_queues_a_long_text(
    monkeypatch,
):
    import threading

    gate = budget.AdmissionGate(1)
    monkeypatch.setattr(budget, "HEAVY_GATE", gate)
    gate.slots.acquire()  # another session's long text holds the only slot
    light = page(model="sst2-lstm", text="the film was a gentle and quietly moving surprise")
    assert not light.exception and light.get("plotly_chart")
    assert gate.waiting == 0

    heavy = AppTest.from_file(APP, default_timeout=120)
    heavy.query_params["model"] = "shakespeare-char-lstm"
    heavy.query_params["text"] = LONG_TEXT
    drawn = threading.Thread(target=heavy.run)
    drawn.start()
    for _ in range(1200):  # until the page waits at the gate (a bound, not a timing)
        if gate.waiting == 1:
            break
        time.sleep(0.1)
    assert gate.waiting == 1
    gate.slots.release()
    drawn.join(timeout=120)
    assert not heavy.exception and heavy.get("plotly_chart")
    assert gate.running == gate.waiting == 0


def safetensors_data_bytes(path: Path) -> int:
    """The weights' bytes in a safetensors file: its size less the 8-byte length and the JSON header."""
    data = path.read_bytes()
    return len(data) - 8 - int.from_bytes(data[:8], "little")


def test_a_server_model_counts_its_weights_in_the_budget_for_as_long_as_the_process():
    from rnnviz.app import catalogue

    catalogue.shared_model("sst2-gru")
    entry = budget.server_budget().entries[(budget.SHARED, ("model", "sst2-gru"))]
    weights = Path(rnnviz.models.architectures.PRETRAINED_DIR) / "sst2-gru" / "model.safetensors"
    assert entry.size == safetensors_data_bytes(weights) and entry.pinned


def test_the_sweep_keeps_server_models_and_uploads_count_against_them():
    now = [0.0]
    kept = MemoryBudget(cache_bytes=10_000, session_bytes=8_000, clock=lambda: now[0])
    kept.put(budget.SHARED, ("model", "m"), budget.SHARED, np.zeros(1000, np.float32), pinned=True)
    kept.put(budget.SHARED, ("run", "m", "text"), "session a", np.zeros(500, np.float32))
    now[0] = budget.IDLE_SECONDS + 1
    kept.sweep(lambda session: True)
    assert list(kept.entries) == [(budget.SHARED, ("model", "m"))] and kept.used_bytes == 4000
    assert kept.room_for("session b", 5000) is None  # 4,000 + 5,000 of 10,000
    assert "the server's models already hold" in kept.room_for("session b", 6001)
