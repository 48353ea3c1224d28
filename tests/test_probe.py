"""Linear probes: closed-form ridge against numpy's least squares, class probes on separable and shuffled labels."""
import numpy as np
import pytest

from pipeline.probe import class_probe, ridge_fit, ridge_predict


def test_ridge_without_penalty_is_least_squares(rng):
    x = rng.normal(size=(50, 4))
    y = x @ np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0], [2.0, 1.0]]) + np.array([0.3, -0.7])
    weights, bias = ridge_fit(x, y, alpha=0.0)
    design = np.hstack([x, np.ones((50, 1))])
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    assert np.allclose(weights, expected[:4]) and np.allclose(bias, expected[4])
    assert np.allclose(ridge_predict((weights, bias), x), y)


def test_ridge_penalty_shrinks_the_weights(rng):
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    norms = [np.linalg.norm(ridge_fit(x, y, a)[0]) for a in (0.0, 10.0, 1000.0)]
    assert norms[0] > norms[1] > norms[2]


def split(rng, n, classes, shuffle=False):
    y = np.arange(n) % classes
    x = rng.normal(size=(n, 16))
    x[np.arange(n), y] += 4.0                    # class c lifts feature c
    return x, (rng.permutation(y) if shuffle else y)


def test_class_probe_separates_separable_classes_and_not_shuffled_ones(rng):
    parts = [split(rng, n, 5) for n in (200, 50, 50)]
    good = class_probe(*parts[0], *parts[1], *parts[2], n_classes=5)
    assert good["test_accuracy"] >= 0.95 and good["val_accuracy"] >= 0.95
    noise = [split(rng, n, 5, shuffle=True) for n in (200, 50, 50)]
    bad = class_probe(*noise[0], *noise[1], *noise[2], n_classes=5)
    assert bad["test_accuracy"] < 0.5
