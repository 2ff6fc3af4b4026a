"""The classroom's rules, store and readings, without a server (tests/e2e/test_classroom_browser.py
drives the real one)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import rnnviz
from rnnviz.app.state import ViewState
from rnnviz.classroom.reading import Reading, read_sentence
from rnnviz.classroom.rules import (
    CODE_ALPHABET,
    CODE_LENGTH,
    LookupLimiter,
    Refused,
    RoomRules,
    cut_text,
    normal_code,
    rules_from_environment,
    shown_code,
    valid_phone_token,
)
from rnnviz.classroom.store import ClassStore, class_store
from rnnviz.errors import RnnvizError

PHONE_A = "a" * 32
PHONE_B = "b" * 32
HARMFUL = '<img src="x" onerror="alert(1)"> **not** <b>good</b>'
APP = str(Path(__file__).resolve().parents[1] / "app.py")


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def reading(label: str = "positive", units: int = 4, surprise: float = 0.3) -> Reading:
    return Reading(
        model="sst2-lstm",
        tokens=("a", "b"),
        labels=("negative", label),
        probabilities=(0.6, 0.7),
        final_probabilities={label: 0.7},
        flips=(1,) if label != "negative" else (),
        surprise=surprise,
        final_state=np.arange(units, dtype=np.float32),
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    rules = RoomRules(
        seconds_between_sentences=3, sentences_per_phone=3, phones_per_room=2, sentences_per_room=5
    )
    return ClassStore(tmp_path / "class.sqlite3", rules, clock=clock)


def test_codes_are_typed_without_doubt_and_phone_tokens_are_checked():
    assert len(CODE_ALPHABET) == 31 and not set("01ILO") & set(CODE_ALPHABET)
    assert len(CODE_ALPHABET) ** CODE_LENGTH > 10**11
    assert normal_code("k7qm-x2pd") == "K7QMX2PD"
    assert normal_code(" K7QM X2PD ") == "K7QMX2PD"
    assert normal_code("K7QM-X2P0") is None  # 0 is not in the alphabet
    assert normal_code("K7QM") is None
    assert shown_code("K7QMX2PD") == "K7QM-X2PD"
    assert valid_phone_token("0123456789abcdef" * 2)
    assert not valid_phone_token("0123456789ABCDEF" * 2)
    assert not valid_phone_token("<script>" * 4)
    assert not valid_phone_token(None)


def test_text_is_cut_at_the_apps_length_limit_and_empty_text_refused():
    rules = RoomRules(max_characters=2000)
    assert cut_text("x" * 2001, rules) == ("x" * 2000, True)
    assert cut_text("  the movie  ", rules) == ("the movie", False)
    with pytest.raises(Refused, match="Type a sentence"):
        cut_text("   ", rules)


def test_rules_from_the_environment_change_only_named_fields(monkeypatch):
    monkeypatch.setenv("RNNVIZ_CLASS_RULES", '{"phones_per_room": 3}')
    assert rules_from_environment() == RoomRules(phones_per_room=3)
    monkeypatch.setenv("RNNVIZ_CLASS_RULES", '{"no_such_rule": 3}')
    with pytest.raises(RnnvizError, match="may set only"):
        rules_from_environment()


def test_wrong_code_lookups_are_limited_per_address_for_a_minute():
    clock = Clock(0.0)
    limiter = LookupLimiter(per_minute=3, clock=clock)
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
    with pytest.raises(Refused, match="Too many wrong room codes"):
        limiter.check("10.0.0.1")
    limiter.check("10.0.0.2")  # another address is not slowed
    clock.now = 60.5
    limiter.check("10.0.0.1")  # a minute later the address may try again


def test_lecturer_reopens_a_room_only_with_its_secret_and_after_a_restart(tmp_path, clock, store):
    room, secret = store.create_room("sst2-lstm")
    assert len(room.code) == CODE_LENGTH
    store.add_sentence(room.code, PHONE_A, "the movie was not good", False, reading())
    assert store.lecturer_room(room.code, "not-the-secret") is None
    restarted = ClassStore(tmp_path / "class.sqlite3", store.rules, clock=clock)
    reopened = restarted.lecturer_room(room.code, secret)
    assert reopened is not None and reopened.model == "sst2-lstm"
    (kept,) = restarted.sentences(room.code)
    assert kept.text == "the movie was not good" and kept.final_label == "positive"
    assert kept.flip_word == "b" and kept.final_state.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_phone_sends_one_sentence_every_few_seconds_and_a_bounded_number(clock, store):
    room, _ = store.create_room("sst2-lstm")
    store.add_sentence(room.code, PHONE_A, "one", False, reading())
    clock.now += 1
    with pytest.raises(Refused, match="One sentence every 3 s: wait 2 s more"):
        store.add_sentence(room.code, PHONE_A, "two", False, reading())
    store.add_sentence(room.code, PHONE_B, "other phone", False, reading())  # others are not slowed
    for text in ("two", "three"):
        clock.now += 3
        store.add_sentence(room.code, PHONE_A, text, False, reading())
    clock.now += 3
    with pytest.raises(Refused, match="You have sent 3 sentences"):
        store.check_sentence(room.code, PHONE_A)
    assert [s.text for s in store.sentences(room.code)] == [
        "one",
        "other phone",
        "two",
        "three",
    ]


def test_a_room_caps_its_phones_and_sentences(clock, store):
    room, _ = store.create_room("sst2-lstm")
    store.join(room.code, PHONE_A)
    store.join(room.code, PHONE_A)  # the same phone again is not a new one
    store.join(room.code, PHONE_B)
    assert store.phones_joined(room.code) == 2
    with pytest.raises(Refused, match="This room is full \\(2 phones\\)"):
        store.join(room.code, "c" * 32)
    for _ in range(3):
        store.add_sentence(room.code, PHONE_A, "a", False, reading())
        store.add_sentence(room.code, PHONE_B, "b", False, reading()) if _ < 2 else None
        clock.now += 3
    with pytest.raises(Refused, match="holds 5 sentences and is full"):
        store.add_sentence(room.code, PHONE_B, "sixth", False, reading())
    assert len(store.sentences(room.code)) == 5


def test_concurrent_phones_never_slip_past_the_room_cap(tmp_path, clock):
    rules = RoomRules(sentences_per_room=10, phones_per_room=100)
    store = ClassStore(tmp_path / "class.sqlite3", rules, clock=clock)
    room, _ = store.create_room("sst2-lstm")
    accepted, refused = [], []

    def phone(index: int) -> None:
        try:
            accepted.append(store.add_sentence(room.code, f"{index:032x}", "x", False, reading()))
        except Refused:
            refused.append(index)

    threads = [threading.Thread(target=phone, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(accepted) == 10 and len(refused) == 14
    assert sorted(s.id for s in store.sentences(room.code)) == sorted(accepted)


def test_rooms_end_twelve_hours_after_their_last_use_and_can_be_closed(clock, store):
    room, secret = store.create_room("sst2-lstm")
    clock.now += 11 * 3600
    store.add_sentence(room.code, PHONE_A, "still here", False, reading())  # a use
    clock.now += 11 * 3600
    assert store.lecturer_room(room.code, secret) is not None  # 11 h after the last use
    clock.now += 12 * 3600 + 1
    assert store.lecturer_room(room.code, secret) is None
    with pytest.raises(Refused, match="This room has ended"):
        store.join(room.code, PHONE_A)
    other, other_secret = store.create_room("sst2-lstm")  # and creating a room purges it
    assert store.sentences(room.code) == []
    store.close_room(other.code)
    assert store.lecturer_room(other.code, other_secret).closed
    with pytest.raises(Refused, match="closed this room"):
        store.add_sentence(other.code, PHONE_A, "late", False, reading())


def test_hiding_a_sentence_keeps_it_and_moves_the_revision(store):
    room, _ = store.create_room("sst2-lstm")
    sentence = store.add_sentence(room.code, PHONE_A, "<b>bold</b>", False, reading())
    before = store.phone_room(room.code).revision
    store.set_hidden(room.code, sentence, True)
    (kept,) = store.sentences(room.code)
    assert kept.hidden and kept.text == "<b>bold</b>"  # kept as typed; every view shows it as text
    assert store.phone_room(room.code).revision > before


def test_a_reading_matches_the_model_run_on_every_prefix():
    """Labels, flips and surprise against the classifier run on each prefix on its own; the final
    state against nn.LSTM's own h_n."""
    text = "the movie was not good"
    got = read_sentence("sst2-lstm", text)
    loaded = rnnviz.load("sst2-lstm")
    ids = loaded.encode(text).ids
    with torch.no_grad():
        per_prefix = np.stack(
            [
                torch.softmax(loaded.module(torch.tensor([ids[: t + 1]])), dim=-1)[0].numpy()
                for t in range(len(ids))
            ]
        )
        _, (h_n, _) = loaded.module.rnn(loaded.module.embedding(torch.tensor([ids])))
    labels = loaded.config.labels
    best = per_prefix.argmax(axis=1)
    assert got.labels == tuple(labels[i] for i in best)
    np.testing.assert_allclose(got.probabilities, per_prefix.max(axis=1), atol=1e-5)
    assert got.flips == tuple(t for t in range(1, len(best)) if best[t] != best[t - 1])
    assert got.flips and got.final_label == "negative"  # the prediction turns on the way
    moves = [0.5 * np.abs(per_prefix[t] - per_prefix[t - 1]).sum() for t in range(1, len(ids))]
    assert got.surprise == pytest.approx(max(moves), abs=1e-5)
    np.testing.assert_allclose(got.final_state, h_n[-1, 0].numpy(), atol=1e-5)


def class_page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_the_class_view_opens_a_room_and_shows_typed_markup_as_text():
    at = class_page(view="class")
    assert not at.exception and not at.error
    code, key = at.query_params["room"], at.query_params["room_key"]
    store = class_store()
    assert store.lecturer_room(code, key) is not None
    assert any(f"/join/{code}" in c.value for c in at.code)
    store.add_sentence(code, PHONE_A, HARMFUL, False, reading())
    at = class_page(view="class", room=code, room_key=key)
    assert at.query_params["room"] == code  # the same room, reopened by its link
    assert HARMFUL in [t.value for t in at.text]  # st.text: never Markdown or HTML
    assert not any(HARMFUL in m.value for m in at.markdown)
    at = class_page(view="class", room=code, room_key="wrong")
    assert at.query_params["room"] != code
    assert any("key does not match" in w.value for w in at.warning)


def test_the_rooms_key_is_in_the_class_views_link_only():
    state = ViewState(view="class", room="K7QMX2PD", room_key="secret")
    assert state.to_query()["room_key"] == "secret"
    assert "room_key" not in replace(state, view="heatmaps").to_query()
    assert "room" not in replace(state, view="lecture").to_query()


def test_the_room_sorts_by_newest_or_by_the_largest_move_one_word_made():
    at = class_page(view="class")
    code, key = at.query_params["room"], at.query_params["room_key"]
    store = ClassStore(class_store().path, RoomRules(seconds_between_sentences=0))
    for text, surprise in (("calm", 0.1), ("jolted", 0.9), ("mild", 0.4)):
        store.add_sentence(code, PHONE_A, text, False, reading(surprise=surprise))
    at = class_page(view="class", room=code, room_key=key)
    texts = [t.value for t in at.text if t.value in ("calm", "jolted", "mild")]
    assert texts == ["mild", "jolted", "calm"]  # newest first
    at.session_state["class_sort"] = "most surprising"
    texts = [t.value for t in at.run().text if t.value in ("calm", "jolted", "mild")]
    assert texts == ["jolted", "mild", "calm"]
