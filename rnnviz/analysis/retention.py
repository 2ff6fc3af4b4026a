"""How long memory lasts: the share of a unit's state written at token s that survives to token t.

LSTM: c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, so what c held after token s is carried to token t
multiplied by R_u[s→t] = ∏_{k=s+1..t} f_{k,u}. GRU in PyTorch's convention,
h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}: the same product over the update gate z. The backward
direction reads the text from its end, so its memory runs towards earlier tokens:
R_u[s→t] = ∏_{k=t..s−1} f_{k,u} for t ≤ s.

A matrix is indexed [s, t] (written at s, read at t): 1 on the diagonal (the empty product), NaN
where t lies before s in the direction's reading order (memory does not flow that way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnviz.analysis.inspection import TextRun
from rnnviz.errors import RnnvizError

# The gate whose product is the retention, per cell kind.
RETENTION_GATES = {"lstm": "forget_gate", "gru": "update_gate"}


def retention_matrices(gates: np.ndarray, direction: str = "forward") -> np.ndarray:
    """[units, T, T] retention R_u[s, t] from a [T, units] forget (LSTM) or update (GRU) gate."""
    keep = _reading_order(gates, direction)
    steps, units = keep.shape
    result = np.full((units, steps, steps), np.nan)
    for s in range(steps):
        result[:, s, s] = 1.0
        result[:, s, s + 1 :] = np.cumprod(keep[s + 1 :], axis=0).T
    return _back_to_token_order(result, direction)


def mean_retention(gates: np.ndarray, direction: str = "forward") -> np.ndarray:
    """[T, T] retention averaged over units, without holding every unit's matrix at once."""
    keep = _reading_order(gates, direction)
    steps = keep.shape[0]
    result = np.full((steps, steps), np.nan)
    for s in range(steps):
        result[s, s] = 1.0
        result[s, s + 1 :] = np.cumprod(keep[s + 1 :], axis=0).mean(axis=1)
    return _back_to_token_order(result, direction)


def _reading_order(gates: np.ndarray, direction: str) -> np.ndarray:
    if direction not in ("forward", "backward"):
        raise RnnvizError(f"direction must be 'forward' or 'backward', got {direction!r}")
    gates = np.asarray(gates, dtype=np.float64)
    if gates.ndim != 2:
        raise RnnvizError(f"gates must be [time, units], got shape {gates.shape}")
    return gates[::-1] if direction == "backward" else gates


def _back_to_token_order(matrix: np.ndarray, direction: str) -> np.ndarray:
    """Computed in reading order; the backward direction's [s, t] flips both token axes back."""
    return np.ascontiguousarray(matrix[..., ::-1, ::-1]) if direction == "backward" else matrix


@dataclass(frozen=True)
class Retention:
    """Retention matrices of one layer and direction for one text, ready to draw (token × token)."""

    gate: str  # the recorded name the product runs over
    direction: str
    tokens: tuple[str, ...]
    unit: int | None
    unit_matrix: np.ndarray | None  # [T, T]: R_unit[s, t]; None without a chosen unit
    mean_matrix: np.ndarray  # [T, T]: the mean over units


def text_retention(
    run: TextRun, layer: int, direction: str = "forward", unit: int | None = None
) -> Retention:
    """Retention of a text's layer and direction: of `unit` (when given) and the mean over units."""
    record = run.recurrent_call
    gate = RETENTION_GATES.get(record.cell)
    if gate is None:
        raise RnnvizError(
            f"a plain RNN ({record.cell}) has no gate that says what it keeps; "
            f"retention needs an LSTM or a GRU"
        )
    if not 0 <= layer < record.num_layers or direction not in record.directions:
        raise RnnvizError(
            f"no layer {layer} {direction} in {run.model} "
            f"(layers 0..{record.num_layers - 1}, directions {', '.join(record.directions)})"
        )
    gates = run.states(layer, direction, gate)
    if unit is not None and not 0 <= unit < gates.shape[1]:
        raise RnnvizError(f"unit {unit} outside 0..{gates.shape[1] - 1}")
    unit_matrix = None if unit is None else retention_matrices(gates[:, [unit]], direction)[0]
    return Retention(
        gate=record.name(layer, direction, gate),
        direction=direction,
        tokens=tuple(run.tokens),
        unit=unit,
        unit_matrix=unit_matrix,
        mean_matrix=mean_retention(gates, direction),
    )


# Past this many tokens the token × token dependence (T²/2 products of [units, units] Jacobians) costs
# seconds; the Memory view then shows the gradient's reach alone.
STATE_DEPENDENCE_MAX_TOKENS = 80


def rnn_state_dependence(
    hidden: np.ndarray,
    weight_hh: np.ndarray,
    nonlinearity: str = "tanh",
    direction: str = "forward",
) -> np.ndarray:
    """[T, T] D[s, t] = ‖∂h_t/∂h_s‖_F / √units for a plain RNN layer, h_t = φ(W_ih x_t + W_hh h_{t−1} + b).

    A plain RNN has no gate that says what it keeps; what it keeps of h_s at t is this Jacobian,
    the product of ∂h_k/∂h_{k−1} = diag(φ'(·)) W_hh over the steps between (φ' = 1 − h_k² for tanh,
    1[h_k > 0] for ReLU), read from the recorded states. Divided by √units so that the diagonal
    (the identity) is 1, like retention; NaN where t lies before s in the reading order.
    `hidden` is [T, units] in token order, `weight_hh` [units, units] of the same direction.
    """
    states = _reading_order(hidden, direction)
    if nonlinearity not in ("tanh", "relu"):
        raise RnnvizError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    slopes = 1.0 - states**2 if nonlinearity == "tanh" else (states > 0).astype(np.float64)
    weight = np.asarray(weight_hh, dtype=np.float64)
    steps, units = states.shape
    result = np.full((steps, steps), np.nan)
    products = np.zeros((0, units, units))  # ∂h_t/∂h_s for every s < t, stacked over s
    for t in range(steps):
        if t > 0:
            step_jacobian = slopes[t][:, None] * weight  # ∂h_t/∂h_{t−1}
            products = np.concatenate([step_jacobian @ products, step_jacobian[None]], axis=0)
            result[:t, t] = np.linalg.norm(products, axis=(1, 2)) / np.sqrt(units)
        result[t, t] = 1.0
    return _back_to_token_order(result, direction)
