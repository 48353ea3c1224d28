"""Metric arithmetic for the evaluation: pure numpy, no files, no models.

Series are given per evaluated epoch (the generator snapshots), which may be
sparse (every `snapshot_every` epochs): windows are measured in epochs, and a
window average uses the evaluated epochs that fall inside it.
"""

from __future__ import annotations

import numpy as np


def _series(epochs, values) -> tuple[np.ndarray, np.ndarray]:
    epochs, values = np.asarray(epochs, np.int64), np.asarray(values, np.float64)
    if epochs.shape != values.shape or epochs.ndim != 1:
        raise ValueError(f"epochs and values must be 1-d and of equal length, got {epochs.shape} and {values.shape}")
    if len(epochs) > 1 and np.any(np.diff(epochs) <= 0):
        raise ValueError("epochs must be strictly increasing")
    return epochs, values


def _after_d_spans(epochs: np.ndarray, d_epochs, after: int, before: int):
    """(source mask, replaced mask) per discriminator update whose source span holds an evaluated epoch."""
    for d in d_epochs:
        source = (epochs > d - before) & (epochs <= d)
        if source.any():
            yield source, (epochs > d) & (epochs <= d + after)


def replace_after_d_updates(epochs, values, d_epochs, after: int = 2, before: int = 5) -> np.ndarray:
    """The paper's rule: the `after` epochs that follow a discriminator update take the
    mean of the `before` epochs up to and including the update epoch (original values).

    With sparse series, only evaluated epochs inside that span count; an epoch whose
    span holds none keeps its value.
    """
    epochs, values = _series(epochs, values)
    out = values.copy()
    for source, replaced in _after_d_spans(epochs, d_epochs, after, before):
        out[replaced] = values[source].mean()
    return out


def corrected_epochs(epochs, d_epochs, after: int = 2, before: int = 5) -> list[int]:
    """The evaluated epochs that `replace_after_d_updates` replaces (empty: the correction does nothing)."""
    epochs = _series(epochs, np.zeros(len(epochs)))[0]
    hit = np.zeros(len(epochs), bool)
    for _, replaced in _after_d_spans(epochs, d_epochs, after, before):
        hit |= replaced
    return [int(e) for e in epochs[hit]]


def window_mean(epochs, values, start: int, end: int) -> float:
    """Mean of the values at epochs in [start, end]; NaN when none falls inside."""
    epochs, values = _series(epochs, values)
    inside = (epochs >= start) & (epochs <= end)
    return float(values[inside].mean()) if inside.any() else float("nan")


def moving_average(epochs, values, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing average over `window` epochs: for each evaluated epoch e with a full
    window (e - window + 1 >= first epoch), the mean of the values at epochs in
    (e - window, e]. Returns (end epochs, averages)."""
    if window < 1:
        raise ValueError(f"moving average window must be >= 1, got {window}")
    epochs, values = _series(epochs, values)
    ends, means = [], []
    for e in epochs:
        if len(epochs) == 0 or e - window + 1 < epochs[0]:
            continue
        inside = (epochs > e - window) & (epochs <= e)
        ends.append(int(e))
        means.append(float(values[inside].mean()))
    return np.asarray(ends, np.int64), np.asarray(means, np.float64)


def max_moving_average(epochs, values, window: int) -> tuple[float, int]:
    """(largest trailing `window`-epoch average, the epoch where that window ends);
    (NaN, -1) when the series is shorter than the window."""
    ends, means = moving_average(epochs, values, window)
    if len(means) == 0:
        return float("nan"), -1
    best = int(np.argmax(means))
    return float(means[best]), int(ends[best])


def _distance_chunks(queries: np.ndarray, gallery: np.ndarray, chunk: int):
    """|q|^2 - 2 q.g + |g|^2 ... without |q|^2: per chunk of query rows, each row's squared distance
    to every gallery row less its own squared norm (enough to rank the gallery)."""
    g2 = (gallery**2).sum(axis=1)
    for i in range(0, len(queries), chunk):
        q = queries[i : i + chunk]
        yield q, g2[None, :] - 2 * q @ gallery.T


def nearest_neighbours(queries: np.ndarray, gallery: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Index of the nearest gallery row (Euclidean) for every query row."""
    queries, gallery = np.asarray(queries, np.float32), np.asarray(gallery, np.float32)
    out = [np.argmin(part, axis=1) for _, part in _distance_chunks(queries, gallery, chunk)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def nearest_distances(queries: np.ndarray, gallery: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Euclidean distance from every query row to its nearest gallery row."""
    queries, gallery = np.asarray(queries, np.float64), np.asarray(gallery, np.float64)
    out = [np.sqrt(np.clip((q**2).sum(axis=1) + part.min(axis=1), 0, None)) for q, part in _distance_chunks(queries, gallery, chunk)]
    return np.concatenate(out) if out else np.zeros(0)


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance over the distinct pairs of rows; NaN for fewer than two rows."""
    features = np.asarray(features, np.float64)
    if len(features) < 2:
        return float("nan")
    squared = (features**2).sum(axis=1)
    distances = np.sqrt(np.clip(squared[:, None] + squared[None, :] - 2 * features @ features.T, 0, None))
    return float(distances[np.triu_indices(len(features), k=1)].mean())


def within_class_spread(features, classes, n_classes: int) -> list[float]:
    """Per class, the mean pairwise distance between the features of that class's items."""
    features, classes = np.asarray(features), np.asarray(classes)
    return [mean_pairwise_distance(features[classes == c]) for c in range(n_classes)]


def retrieval_accuracy(query_features, query_classes, gallery_features, gallery_classes) -> float:
    """Share of queries whose nearest gallery item (Euclidean) has the query's class."""
    nearest = nearest_neighbours(query_features, gallery_features)
    return float(np.mean(np.asarray(gallery_classes)[nearest] == np.asarray(query_classes)))


def memorisation_share(outputs, output_videos, train_images, train_videos) -> float:
    """Share of outputs whose nearest training image (pixels) comes from the output's own source video."""
    flat = lambda a: np.asarray(a, np.float32).reshape(len(a), -1)
    nearest = nearest_neighbours(flat(outputs), flat(train_images))
    return float(np.mean(np.asarray(train_videos)[nearest] == np.asarray(output_videos)))


def diversity(samples: np.ndarray) -> float:
    """Per-sound diversity: samples is S x N x ... (S >= 2 dropout samples of N sounds).
    The mean over sounds of the mean absolute difference between every pair of samples."""
    samples = np.asarray(samples, np.float64)
    if samples.ndim < 2 or samples.shape[0] < 2:
        raise ValueError(f"diversity needs at least 2 samples per sound, got shape {samples.shape}")
    flat = samples.reshape(samples.shape[0], samples.shape[1], -1)
    pairs = [np.abs(flat[a] - flat[b]).mean(axis=1) for a in range(len(flat)) for b in range(a + 1, len(flat))]
    return float(np.mean(pairs))


def class_shares(hits, classes, n_classes: int) -> list[float]:
    """Per class, the share of True in `hits` among items of that class (NaN for an empty class)."""
    hits, classes = np.asarray(hits, np.float64), np.asarray(classes)
    return [float(hits[classes == c].mean()) if np.any(classes == c) else float("nan") for c in range(n_classes)]
