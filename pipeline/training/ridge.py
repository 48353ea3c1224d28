"""Ridge regression: the ridge-regression translator (a control for the GAN, from the same sound
embeddings to pixels) and the linear probe of an embedding (does it carry the sound's class?).

Closed form, with an intercept: W = (Xc^T Xc + alpha I)^-1 Xc^T Yc on centred
train embeddings X and train pixels Y in [-1, 1]; alpha is chosen on the
validation sounds (lowest pixel MSE) from a grid scaled by the mean eigenvalue
of Xc^T Xc, so the grid does not depend on the embeddings' scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RELATIVE_ALPHAS = tuple(10.0**k for k in range(-4, 4))


def to_pixels(images_u8: np.ndarray) -> np.ndarray:
    """N x H x W x 3 uint8 -> N x (H W 3) float32 in [-1, 1]."""
    return (np.asarray(images_u8, np.float32) / 127.5 - 1.0).reshape(len(images_u8), -1)


@dataclass
class RidgeFit:
    weights: np.ndarray  # E x P
    x_mean: np.ndarray  # E
    y_mean: np.ndarray  # P
    alpha: float
    val_loss: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.x_mean) @ self.weights + self.y_mean


@dataclass
class RidgeTranslator(RidgeFit):
    """A ridge fit from embeddings to flattened pixels in [-1, 1] (val_loss: the validation pixel MSE)."""

    image_shape: tuple = ()

    def translate(self, emb: np.ndarray) -> np.ndarray:
        """uint8 N x H x W x 3 images for N embeddings."""
        pixels = self.predict(emb)
        return np.round((np.clip(pixels, -1, 1) + 1) * 127.5).astype(np.uint8).reshape(len(emb), *self.image_shape)


def select_ridge(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_loss, relative_alphas=RELATIVE_ALPHAS) -> RidgeFit:
    """Ridge regression train_x -> train_y whose alpha minimises val_loss(predictions for val_x).

    One eigendecomposition of Xc^T Xc serves every alpha of the grid; alphas are
    relative to its mean eigenvalue.
    """
    x = np.asarray(train_x, np.float64)
    x_mean = x.mean(axis=0)
    xc = x - x_mean
    y_mean = np.asarray(train_y).mean(axis=0, dtype=np.float64)
    eigvals, eigvecs = np.linalg.eigh(xc.T @ xc)
    eigvals = np.clip(eigvals, 0, None)
    projected = eigvecs.T @ (xc.T @ (np.asarray(train_y, np.float64) - y_mean))  # E x P
    val_coords = (np.asarray(val_x, np.float64) - x_mean) @ eigvecs
    scale = max(float(eigvals.mean()), 1e-12)
    best = None
    for relative in relative_alphas:
        alpha = relative * scale
        loss = float(val_loss((val_coords / (eigvals + alpha)) @ projected + y_mean))
        if best is None or loss < best[1]:
            best = (alpha, loss)
    alpha, loss = best
    return RidgeFit(eigvecs @ (projected / (eigvals + alpha)[:, None]), x_mean, y_mean, alpha, loss)


def fit_ridge(train_emb: np.ndarray, train_images: np.ndarray, val_emb: np.ndarray, val_images: np.ndarray, relative_alphas=RELATIVE_ALPHAS) -> RidgeTranslator:
    """The ridge translator whose alpha gives the lowest pixel MSE on the validation sounds."""
    val_pixels = to_pixels(val_images).astype(np.float64)
    fit = select_ridge(train_emb, to_pixels(train_images), val_emb, lambda predicted: np.mean((predicted - val_pixels) ** 2), relative_alphas)
    return RidgeTranslator(fit.weights, fit.x_mean, fit.y_mean, fit.alpha, fit.val_loss, image_shape=tuple(np.asarray(train_images).shape[1:]))


def class_probe(train_x, train_y, val_x, val_y, test_x, test_y, n_classes: int) -> dict:
    """Linear probe: a ridge classifier on one-hot classes, trained on train, alpha chosen on val
    (highest accuracy); its accuracies on train, val and test."""

    def accuracy(predicted, y):
        return float((predicted.argmax(1) == np.asarray(y)).mean())

    fit = select_ridge(train_x, np.eye(n_classes)[np.asarray(train_y)], val_x, lambda predicted: -accuracy(predicted, val_y))
    return {f"{name}_accuracy": accuracy(fit.predict(x), y) for name, x, y in (("train", train_x, train_y), ("val", val_x, val_y), ("test", test_x, test_y))}
