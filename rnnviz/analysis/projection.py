"""A 2-D principal-component projection of hidden states (the trajectory view's analysis)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """A 2-D PCA projection: x ↦ (x − mean) · components.T."""

    mean: np.ndarray
    components: np.ndarray  # [2, units]
    explained: tuple[float, float]  # fraction of variance of each axis

    def apply(self, states: np.ndarray) -> np.ndarray:
        return (np.asarray(states, dtype=np.float64) - self.mean) @ self.components.T


def fit_pca(states: np.ndarray) -> Projection:
    """Principal components of [samples, units] states (SVD of the centred matrix)."""
    states = np.nan_to_num(np.asarray(states, dtype=np.float64))
    mean = states.mean(axis=0)
    centred = states - mean
    _, singular, vectors = np.linalg.svd(centred, full_matrices=False)
    components = np.zeros((2, states.shape[1]))
    components[: min(2, len(vectors))] = vectors[:2]
    variance = singular**2
    total = variance.sum() or 1.0
    explained = tuple(float(v / total) for v in np.pad(variance, (0, 2))[:2])
    return Projection(mean=mean, components=components, explained=explained)
