"""Figure builders give heatmaps whose colours mean the same thing in every sentence."""

import numpy as np
import pytest

from rnnviz.figures import colour_scale, quantity_heatmap, token_labels


@pytest.mark.parametrize("gate", ["input_gate", "forget_gate", "output_gate", "reset_gate", "update_gate"])
def test_sigmoid_gates_use_a_fixed_zero_to_one_range(gate):
    scale = colour_scale(gate, np.array([[0.2, 0.3]]))
    assert (scale.zmin, scale.zmax) == (0.0, 1.0)


@pytest.mark.parametrize("quantity", ["cell_gate", "new_gate", "hidden"])
def test_tanh_quantities_are_centred_on_zero_from_minus_one_to_one(quantity):
    scale = colour_scale(quantity, np.array([[0.1, -0.05]]), cell="lstm")
    assert (scale.zmin, scale.zmax) == (-1.0, 1.0)


def test_cell_state_range_is_symmetric_around_zero_and_covers_the_values():
    scale = colour_scale("cell", np.array([[0.5, -3.25, np.nan]]))
    assert (scale.zmin, scale.zmax) == (-3.25, 3.25)


def test_relu_hidden_state_is_non_negative_scale():
    scale = colour_scale("hidden", np.array([[0.0, 7.5]]), cell="rnn_relu")
    assert (scale.zmin, scale.zmax) == (0.0, 7.5)


def test_heatmap_has_one_column_per_token_and_one_row_per_unit_in_the_chosen_order():
    values = np.arange(12, dtype=np.float32).reshape(4, 3) / 12  # [time, units]
    labels = token_labels(["a", " ", "\n", "b"], unknown=[False, False, False, True])
    figure = quantity_heatmap(values, labels, "forget_gate", unit_order=np.array([2, 0, 1]))
    heatmap = figure.data[0]
    assert list(heatmap.x) == ["a ·0", "␣ ·1", "↵ ·2", "b⟨unk⟩ ·3"]
    assert list(heatmap.y) == ["2", "0", "1"]
    np.testing.assert_array_equal(np.asarray(heatmap.z), values[:, [2, 0, 1]].T)
    assert (heatmap.zmin, heatmap.zmax) == (0.0, 1.0)


def test_token_labels_stay_unique_for_repeated_tokens():
    labels = token_labels(["the", "cat", "the"])
    assert len(set(labels)) == 3
