"""The ridge-regression translator: a control for the GAN, from the same sound embeddings to pixels.

Closed form, with an intercept: W = (Xc^T Xc + alpha I)^-1 Xc^T Yc on centred
train embeddings X and train pixels Y in [-1, 1]; alpha is chosen on the
validation sounds (lowest pixel MSE) from a grid scaled by the mean eigenvalue
of Xc^T Xc, so the grid does not depend on the embeddings' scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RELATIVE_ALPHAS = tuple(10.0 ** k for k in range(-4, 4))


def to_pixels(images_u8: np.ndarray) -> np.ndarray:
    """N x H x W x 3 uint8 -> N x (H W 3) float32 in [-1, 1]."""
    return (np.asarray(images_u8, np.float32) / 127.5 - 1.0).reshape(len(images_u8), -1)


@dataclass
class RidgeTranslator:
    weights: np.ndarray      # E x P
    emb_mean: np.ndarray     # E
    pixel_mean: np.ndarray   # P
    alpha: float
    val_mse: float
    image_shape: tuple

    def translate(self, emb: np.ndarray) -> np.ndarray:
        """uint8 N x H x W x 3 images for N embeddings."""
        pixels = (np.asarray(emb, np.float64) - self.emb_mean) @ self.weights + self.pixel_mean
        return np.round((np.clip(pixels, -1, 1) + 1) * 127.5).astype(np.uint8).reshape(len(emb), *self.image_shape)


def fit_ridge(train_emb: np.ndarray, train_images: np.ndarray, val_emb: np.ndarray, val_images: np.ndarray,
              relative_alphas=RELATIVE_ALPHAS) -> RidgeTranslator:
    x = np.asarray(train_emb, np.float64)
    emb_mean = x.mean(axis=0)
    xc = x - emb_mean
    y = to_pixels(train_images)
    pixel_mean = y.mean(axis=0, dtype=np.float64)
    eigvals, eigvecs = np.linalg.eigh(xc.T @ xc)
    eigvals = np.clip(eigvals, 0, None)
    projected = eigvecs.T @ (xc.T @ (y - pixel_mean.astype(np.float32)).astype(np.float64))   # E x P
    val_coords = (np.asarray(val_emb, np.float64) - emb_mean) @ eigvecs
    val_pixels = to_pixels(val_images).astype(np.float64)
    scale = max(float(eigvals.mean()), 1e-12)
    best = None
    for relative in relative_alphas:
        alpha = relative * scale
        mse = float(np.mean(((val_coords / (eigvals + alpha)) @ projected + pixel_mean - val_pixels) ** 2))
        if best is None or mse < best[1]:
            best = (alpha, mse)
    alpha, mse = best
    weights = eigvecs @ (projected / (eigvals + alpha)[:, None])
    return RidgeTranslator(weights, emb_mean, pixel_mean, alpha, mse, tuple(np.asarray(train_images).shape[1:]))
