"""Every bundled model's What if lesson example does what its button says, on a real rerun; and the
page offers each model its own example and its own comparison text."""

from __future__ import annotations

import pytest
from test_app import page

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.analysis.interventions import edit_effect, rank_units_by_ablation
from rnnviz.core.edits import Edit
from rnnviz.models.architectures import bundled_names
from rnnviz.models.presets import WHATIF_EXAMPLES


def test_every_bundled_model_has_a_lesson_example():
    assert set(WHATIF_EXAMPLES) == set(bundled_names())


@pytest.mark.parametrize("name", sorted(WHATIF_EXAMPLES))
def test_the_lesson_example_changes_the_prediction_as_its_button_says(name):
    example = WHATIF_EXAMPLES[name]
    model = rnnviz.load(name)
    run = inspect_text(model, example.text)
    assert run.tokens[example.step] == example.token
    assert example.quantity in run.recurrent_call.quantities
    quantity = run.recurrent_call.name(example.layer, example.direction, example.quantity)
    # ranked as the view ranks them: ablated from the token on, effect after the last token
    last = len(run.tokens) - 1 if run.task == "language_model" else None
    ranking = rank_units_by_ablation(model, run, quantity, example.step, until_end=True, at=last)
    units = [unit for unit, _ in ranking.top(example.top)]
    effect = edit_effect(
        model, run, [Edit(quantity, units=units, steps=slice(example.step, None), value=0.0)]
    )
    assert (effect.label_before, effect.label_after) == (example.before, example.after)


def test_the_what_if_button_is_the_models_own_and_worded_after_what_it_edits():
    news = page(model="agnews-lstm", view="whatif")
    (button,) = [b for b in news.button if b.key == "whatif_preset"]
    assert "the movie" not in button.label and "Google shares jump" in button.label
    assert "cell state c" in button.label and "from Business to Sci/Tech" in button.label
    button.click().run()
    assert not news.exception
    verdict = [m.value for m in news.markdown if m.value.startswith("After the last token")]
    assert (
        verdict
        and verdict[0].startswith("After the last token: Business")
        and ("→ Sci/Tech" in verdict[0])
    )
    gru = page(model="sst2-gru", view="whatif")
    (button,) = [b for b in gru.button if b.key == "whatif_preset"]
    assert "hidden state h" in button.label and "cell state" not in button.label
    lm = page(model="shakespeare-char-lstm", view="whatif")
    (button,) = [b for b in lm.button if b.key == "whatif_preset"]
    assert "'↵' to '␣'" in button.label


@pytest.mark.parametrize(
    "model, expected",
    [
        ("agnews-lstm", "Iraq election date set"),
        ("shakespeare-char-lstm", "ROMEO:"),
        ("sst2-lstm", "the movie was good"),
    ],
)
def test_compare_offers_a_second_text_of_the_models_own_kind(model, expected):
    at = page(model=model, view="compare")
    assert not at.exception
    assert at.text_input(key="text2").value.startswith(expected)
