"""Ridge regression: the shared solver against numpy's least squares, and the linear class probe."""

import numpy as np
import pytest

from pipeline.training.ridge import class_probe, select_ridge


def test_ridge_without_penalty_is_least_squares(rng):
    x = rng.normal(size=(50, 4))
    y = x @ np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0], [2.0, 1.0]]) + np.array([0.3, -0.7])
    fit = select_ridge(x, y, x, lambda predicted: 0.0, relative_alphas=(0.0,))
    design = np.hstack([x, np.ones((50, 1))])
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    assert np.allclose(fit.weights, expected[:4])
    assert np.allclose(fit.predict(x), y)


def test_ridge_picks_the_alpha_with_the_lowest_validation_loss(rng):
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    norms = {}
    for relative in (0.0, 10.0, 1000.0):
        norms[relative] = np.linalg.norm(select_ridge(x, y, x, lambda p: 0.0, relative_alphas=(relative,)).weights)
    assert norms[0.0] > norms[10.0] > norms[1000.0]  # the penalty shrinks the weights
    # A validation loss that rewards small weights picks the largest alpha of the grid.
    chosen = select_ridge(x, y, x, lambda predicted: float(np.abs(predicted - y.mean()).sum()), relative_alphas=(0.0, 10.0, 1000.0))
    assert chosen.alpha == pytest.approx(1000.0 * np.linalg.eigvalsh((x - x.mean(0)).T @ (x - x.mean(0))).mean())


def split(rng, n, classes, shuffle=False):
    y = np.arange(n) % classes
    x = rng.normal(size=(n, 16))
    x[np.arange(n), y] += 4.0  # class c lifts feature c
    return x, (rng.permutation(y) if shuffle else y)


def test_class_probe_separates_separable_classes_and_not_shuffled_ones(rng):
    parts = [split(rng, n, 5) for n in (200, 50, 50)]
    good = class_probe(*parts[0], *parts[1], *parts[2], n_classes=5)
    assert good["test_accuracy"] >= 0.95 and good["val_accuracy"] >= 0.95
    noise = [split(rng, n, 5, shuffle=True) for n in (200, 50, 50)]
    bad = class_probe(*noise[0], *noise[1], *noise[2], n_classes=5)
    assert bad["test_accuracy"] < 0.5
