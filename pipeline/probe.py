"""Linear probes: closed-form ridge regression, and how much class a feature set carries.

Used by the autoencoder stage (does its embedding carry the sound's class?) and by
the evaluation's ridge-regression translator (embeddings -> pixels), the linear
control a GAN must beat.
"""
from __future__ import annotations

import numpy as np

ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights W and bias b minimising |x W + b - y|^2 + alpha |W|^2 (float64)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    gram = xc.T @ xc + alpha * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, xc.T @ (y - y_mean))
    return weights, y_mean - x_mean @ weights


def ridge_predict(model: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    weights, bias = model
    return np.asarray(x, np.float64) @ weights + bias


def class_probe(train_x, train_y, val_x, val_y, test_x, test_y, n_classes: int) -> dict:
    """Ridge classifier on one-hot targets, trained on train, alpha chosen on val.

    Returns the accuracies on train, val and test and the chosen alpha.
    """
    onehot = np.eye(n_classes)[np.asarray(train_y)]

    def accuracy(model, x, y):
        return float((ridge_predict(model, x).argmax(1) == np.asarray(y)).mean())

    fits = {alpha: ridge_fit(train_x, onehot, alpha) for alpha in ALPHAS}
    alpha = max(ALPHAS, key=lambda a: (accuracy(fits[a], val_x, val_y), a))
    best = fits[alpha]
    return {"train_accuracy": accuracy(best, train_x, train_y), "val_accuracy": accuracy(best, val_x, val_y),
            "test_accuracy": accuracy(best, test_x, test_y), "alpha": alpha}
