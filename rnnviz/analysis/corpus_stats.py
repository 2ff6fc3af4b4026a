"""Per-unit statistics over a corpus, accumulated batch by batch, and the token features they use.

Streaming keeps memory bounded: a batch's gates are reduced to counts and sums as soon as they
are recorded, so no gate of the whole corpus is ever held at once. Everything here is numpy in,
numpy out; `rnnviz.analysis.corpus` feeds it and owns the model, the cache and the result objects.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch

LEFT_SATURATED = 0.1  # a gate value below this is "left-saturated" (Karpathy et al. 2015)
RIGHT_SATURATED = 0.9  # above this, "right-saturated"
HISTOGRAM_EDGES = np.linspace(
    -1.0, 1.0, 41
)  # h = o·tanh(c) (or tanh) lies in [-1, 1]; 40 fixed bins

FEATURES = (
    "inside_quotes_or_brackets",
    "position_in_line",
    "after_newline",
    "punctuation",
    "after_negation",
)
FEATURE_LABELS = {
    "inside_quotes_or_brackets": "inside quotes or brackets",
    "position_in_line": "position in line",
    "after_newline": "first token of a line",
    "punctuation": "punctuation",
    "after_negation": "after a negation word",
}
NEGATION_WORDS = frozenset(
    [
        "not",
        "n't",
        "no",
        "never",
        "nor",
        "nothing",
        "none",
        "neither",
        "nobody",
        "nowhere",
        "cannot",
        "without",
    ]
)
_OPENING = {"(": ")", "[": "]", "{": "}", "``": "''", "-lrb-": "-rrb-"}
_CLOSING = {v: k for k, v in _OPENING.items()}
_PUNCTUATION = set(string.punctuation) | {"``", "''", "--", "...", "-lrb-", "-rrb-"}


def token_features(tokens: list[str], characters: bool) -> np.ndarray:
    """[tokens, features] float32 for one segment, columns in `FEATURES` order; each segment starts fresh.

    inside_quotes_or_brackets: 1 between an opening bracket or quote and its closing one (the marks
    included); for characters a straight double quote toggles. position_in_line: tokens since the last
    newline (or since the segment start). after_newline: 1 for the first token of a line.
    punctuation: 1 for punctuation tokens. after_negation: 1 after a negation word (not, n't, never, …)
    up to the next punctuation mark or line end (the classic negation scope).
    """
    out = np.zeros((len(tokens), len(FEATURES)), dtype=np.float32)
    depth, in_double_quote, position, line_start, negated = 0, False, 0, True, False
    word = []  # characters of the current word (character models)
    for t, token in enumerate(tokens):
        lowered = token.lower()
        opens = lowered in _OPENING or (characters and token == '"' and not in_double_quote)
        closes = lowered in _CLOSING or (characters and token == '"' and in_double_quote)
        if characters and token == '"':
            in_double_quote = not in_double_quote
        elif opens:
            depth += 1
        inside = opens or closes or depth > 0 or in_double_quote
        if closes and token != '"':
            depth = max(0, depth - 1)
        is_punctuation = (
            bool(token) and all(ch in _PUNCTUATION for ch in token) or lowered in _PUNCTUATION
        )
        is_newline = token == "\n"
        if characters:
            if token.isalpha() or token == "'":
                word.append(lowered)
            else:
                if "".join(word) in NEGATION_WORDS:
                    negated = True
                word = []
        if is_punctuation or is_newline:
            negated = False
        out[t] = (inside, position, line_start, is_punctuation, negated)
        if not characters and lowered in NEGATION_WORDS:
            negated = True
        position = 0 if is_newline else position + 1
        line_start = is_newline
    return out


@dataclass
class StatsAccumulator:
    """Running sums for one layer/direction's hidden state and every layer's gates.

    Feed `add_hidden(values, features, segment_ids, positions)` with the valid rows of a batch
    ([rows, units], NaN-free) and `add_gate(name, values)` with a gate's valid rows; read the
    results with the `*_result` methods. All sums are float64, so the order of batches does not matter
    beyond rounding.
    """

    units: int
    top_k: int
    features: int = len(FEATURES)

    def __post_init__(self) -> None:
        self.count = 0
        self.sum = np.zeros(self.units)
        self.gram = np.zeros((self.units, self.units))  # Σ h hᵀ, for the units' correlation
        self.feature_sum = np.zeros(self.features)
        self.feature_square_sum = np.zeros(self.features)
        self.cross = np.zeros((self.features, self.units))  # Σ f hᵀ
        self.histogram = np.zeros((self.units, len(HISTOGRAM_EDGES) - 1), dtype=np.int64)
        self.top_values = np.full((self.units, 0), -np.inf)
        self.top_positions = np.zeros((self.units, 0), dtype=np.int64)
        self.gate_counts: dict[str, np.ndarray] = {}  # name → [3, units]: left, right, total

    def add_hidden(
        self,
        values: np.ndarray,
        features: np.ndarray,
        segment_ids: np.ndarray,
        positions: np.ndarray,
    ) -> None:
        """values [rows, units] float32; features [rows, F]; segment_ids, positions [rows] (global token index)."""
        # Per-batch products in float32, accumulated across batches in float64. torch's matmul, not
        # numpy's: it obeys torch.set_num_threads, where numpy's OpenBLAS threads thrash a busy CPU.
        features = np.ascontiguousarray(features, dtype=np.float32)
        self.count += len(values)
        self.sum += values.sum(axis=0, dtype=np.float64)
        self.gram += _product(values, values)
        self.feature_sum += features.sum(axis=0, dtype=np.float64)
        self.feature_square_sum += (features * features).sum(axis=0, dtype=np.float64)
        self.cross += _product(features, values)
        self.histogram += histogram_counts(values)
        self._add_top(values, segment_ids, positions)

    def _add_top(self, values: np.ndarray, segment_ids: np.ndarray, positions: np.ndarray) -> None:
        # One context per segment and unit (the segment's maximum), so the top-k are k different places.
        boundaries = np.flatnonzero(np.diff(segment_ids)) + 1
        starts = np.concatenate([[0], boundaries])
        best = np.full((len(starts), self.units), -np.inf)
        where = np.zeros((len(starts), self.units), dtype=np.int64)
        ends = np.concatenate([boundaries, [len(values)]])
        for s, (a, b) in enumerate(zip(starts, ends)):
            local = values[a:b]
            arg = local.argmax(axis=0)
            best[s] = local[arg, np.arange(self.units)]
            where[s] = positions[a + arg]
        merged_values = np.concatenate([self.top_values, best.T], axis=1)
        merged_positions = np.concatenate([self.top_positions, where.T], axis=1)
        keep = min(self.top_k, merged_values.shape[1])
        order = np.argsort(-merged_values, axis=1, kind="stable")[:, :keep]
        self.top_values = np.take_along_axis(merged_values, order, axis=1)
        self.top_positions = np.take_along_axis(merged_positions, order, axis=1)

    def add_gate(self, name: str, values: np.ndarray) -> None:
        """values [rows, units]: count left- and right-saturated entries per unit."""
        counts = self.gate_counts.setdefault(name, np.zeros((3, values.shape[1]), dtype=np.int64))
        counts[0] += (values < LEFT_SATURATED).sum(axis=0)
        counts[1] += (values > RIGHT_SATURATED).sum(axis=0)
        counts[2] += len(values)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.sum / max(self.count, 1)
        variance = np.diag(self.gram) / max(self.count, 1) - mean**2
        return mean, np.sqrt(np.maximum(variance, 0.0))

    def unit_correlation(self) -> np.ndarray:
        """[units, units] Pearson correlation of the units over all tokens (0 where a unit is constant)."""
        n = max(self.count, 1)
        mean = self.sum / n
        covariance = self.gram / n - np.outer(mean, mean)
        std = np.sqrt(np.maximum(np.diag(covariance), 0.0))
        scale = np.outer(std, std)
        return np.divide(covariance, scale, out=np.zeros_like(covariance), where=scale > 1e-12)

    def feature_correlation(self) -> np.ndarray:
        """[features, units] Pearson correlation of each token feature with each unit (0 where constant)."""
        n = max(self.count, 1)
        mean, std = self.mean_std()
        feature_mean = self.feature_sum / n
        feature_std = np.sqrt(np.maximum(self.feature_square_sum / n - feature_mean**2, 0.0))
        covariance = self.cross / n - np.outer(feature_mean, mean)
        scale = np.outer(feature_std, std)
        return np.divide(covariance, scale, out=np.zeros_like(covariance), where=scale > 1e-12)

    def saturation(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(left, right) fractions [units] of timesteps below 0.1 / above 0.9 for gate `name`."""
        left, right, total = self.gate_counts[name]
        return left / max(total[0], 1), right / max(total[0], 1)


def _product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """leftᵀ · right."""
    return (
        torch.from_numpy(np.ascontiguousarray(left)).T
        @ torch.from_numpy(np.ascontiguousarray(right))
    ).numpy()


def histogram_counts(values: np.ndarray) -> np.ndarray:
    """[units, bins] counts of `values` [rows, units] in HISTOGRAM_EDGES (outside values go to the end bins)."""
    bins = len(HISTOGRAM_EDGES) - 1
    low, width = HISTOGRAM_EDGES[0], HISTOGRAM_EDGES[1] - HISTOGRAM_EDGES[0]
    index = np.clip(((values - low) / width).astype(np.int64), 0, bins - 1)
    index += np.arange(values.shape[1]) * bins
    return np.bincount(index.ravel(), minlength=values.shape[1] * bins).reshape(
        values.shape[1], bins
    )


def unit_clusters(
    correlation: np.ndarray, clusters: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates [units, 2], labels [units]) of units from their correlation matrix.

    Coordinates: classical MDS of the distance 1 − ρ (units that move together lie close).
    Labels: k-means (farthest-point start, deterministic) on the top eigenvectors of ρ.
    """
    correlation = np.nan_to_num(np.asarray(correlation, dtype=np.float64))
    units = correlation.shape[0]
    distance = 1.0 - correlation
    centring = np.eye(units) - 1.0 / units
    gram = -0.5 * centring @ (distance**2) @ centring
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    top = np.argsort(-eigenvalues)[:2]
    coordinates = eigenvectors[:, top] * np.sqrt(np.maximum(eigenvalues[top], 0.0))
    if coordinates.shape[1] < 2:
        coordinates = np.pad(coordinates, ((0, 0), (0, 2 - coordinates.shape[1])))
    dimensions = min(max(clusters, 2), units)
    space = eigenvectors[:, np.argsort(-eigenvalues)[:dimensions]] * np.sqrt(
        np.maximum(np.sort(eigenvalues)[::-1][:dimensions], 0.0)
    )
    return coordinates, _kmeans(space, min(clusters, units), seed)


def _kmeans(points: np.ndarray, k: int, seed: int, iterations: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        distance = np.min([((points - c) ** 2).sum(axis=1) for c in centres], axis=0)
        centres.append(points[int(distance.argmax())])
    centres = np.array(centres)
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(iterations):
        labels = ((points[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
        updated = np.array(
            [
                points[labels == j].mean(axis=0) if (labels == j).any() else centres[j]
                for j in range(k)
            ]
        )
        if np.allclose(updated, centres):
            break
        centres = updated
    return labels
