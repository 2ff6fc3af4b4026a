"""Orders of units (heatmap rows) that make patterns visible; one order serves every heatmap."""

from __future__ import annotations

import numpy as np

ORDERINGS = ("index", "variance", "mean", "similarity", "clustering")


def unit_order(values: np.ndarray, ordering: str = "index", reference_unit: int = 0) -> np.ndarray:
    """Permutation of units for `values` [time, units].

    index: as stored; variance / mean: largest first; similarity: by Pearson correlation
    with `reference_unit` over time (the unit itself first); clustering: the spectral
    (Fiedler-vector) order of the units' correlation graph, so that units that move
    together sit next to each other.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    units = values.shape[1]
    if ordering == "index" or units < 2:
        return np.arange(units)
    if ordering == "variance":
        return np.argsort(-values.var(axis=0), kind="stable")
    if ordering == "mean":
        return np.argsort(-values.mean(axis=0), kind="stable")
    correlation = _correlation(values)
    if ordering == "similarity":
        reference_unit = int(np.clip(reference_unit, 0, units - 1))
        similarity = correlation[reference_unit].copy()
        similarity[reference_unit] = np.inf
        return np.argsort(-similarity, kind="stable")
    if ordering == "clustering":
        return _spectral_order(correlation)
    raise ValueError(f"unknown ordering {ordering!r}; choose one of {', '.join(ORDERINGS)}")


def _correlation(values: np.ndarray) -> np.ndarray:
    """Units × units Pearson correlation over time; constant units correlate 0 with all."""
    centred = values - values.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)
    safe = np.where(norms > 0, norms, 1.0)
    normalised = centred / safe
    correlation = normalised.T @ normalised
    correlation[norms == 0, :] = 0.0
    correlation[:, norms == 0] = 0.0
    return correlation


def _spectral_order(correlation: np.ndarray) -> np.ndarray:
    """Sort by the Fiedler vector of the graph Laplacian with affinity (1 + corr) / 2."""
    affinity = (1.0 + correlation) / 2.0
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(affinity.sum(axis=1)) - affinity
    _, vectors = np.linalg.eigh(laplacian)
    fiedler = vectors[:, 1]
    if fiedler[np.argmax(np.abs(fiedler))] < 0:  # fix the sign so the order is deterministic
        fiedler = -fiedler
    return np.argsort(fiedler, kind="stable")


def shown_units(order: np.ndarray, count: int, selected: int) -> np.ndarray:
    """`count` units: the first of `order`, the selected unit in the last row when it is not among
    them, so that it never disappears and the count stays what was asked."""
    shown = np.asarray(order)[:count]
    if selected in shown or selected not in order or count < 1:
        return shown
    return np.append(shown[: count - 1], selected)


def busiest_unit(values: np.ndarray) -> int:
    """The unit whose value varies most over the text ([time, units]): one that does something on it."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    return int(np.argmax(values.var(axis=0))) if values.size else 0
