"""Log-Mel features per the paper: 25 ms Hamming frames, 10 ms hop, power, 128 Mel bands, log.

The spectrogram of a whole clip is computed once; a 1-s segment is the slice of
100 frames that starts at its start time. Frame i is centred on sample
i * hop (the signal is zero-padded by half a window at both ends), which is
librosa's `center=True` convention, so the values equal
`log(librosa.feature.melspectrogram(...) + LOG_FLOOR)` on the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LOG_FLOOR = 1e-6


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_mels: int = 128
    segment_frames: int = 100

    @property
    def n_fft(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_part = hz >= 1000.0
    return np.where(log_part, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


@lru_cache(maxsize=8)
def _mel_basis(cfg: MelConfig) -> np.ndarray:
    """Triangular filters, area-normalised (Slaney), equal to librosa.filters.mel's defaults.

    Written out so that the decode workers need not import librosa's filters,
    whose first call costs about 2 s (numba) in every new process.
    """
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(cfg.sample_rate / 2), cfg.n_mels + 2))
    bins = np.linspace(0, cfg.sample_rate / 2, 1 + cfg.n_fft // 2)
    ramps = edges[:, None] - bins[None, :]
    widths = np.diff(edges)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def _window(cfg: MelConfig) -> np.ndarray:
    return np.hamming(cfg.n_fft + 1)[:-1].astype(np.float32)  # periodic, as scipy/librosa use


def log_mel(audio: np.ndarray, cfg: MelConfig = MelConfig()) -> np.ndarray:
    """n_mels x n_frames log-Mel power spectrogram of a mono float signal."""
    audio = np.asarray(audio, dtype=np.float32)
    pad = cfg.n_fft // 2
    padded = np.pad(audio, (pad, pad))
    n_frames = 1 + (len(padded) - cfg.n_fft) // cfg.hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft)[:: cfg.hop][:n_frames]
    power = np.abs(np.fft.rfft(frames * _window(cfg), axis=1)) ** 2
    mel = _mel_basis(cfg) @ power.T.astype(np.float32)
    return np.log(mel + LOG_FLOOR).astype(np.float32)


def segment_slice(spectrogram: np.ndarray, start_s: float, cfg: MelConfig = MelConfig()) -> np.ndarray:
    """The segment_frames columns starting at start_s; short tails are padded with the log floor."""
    first = int(round(start_s * cfg.frames_per_second))
    out = spectrogram[:, first : first + cfg.segment_frames]
    if out.shape[1] < cfg.segment_frames:
        fill = np.full((spectrogram.shape[0], cfg.segment_frames - out.shape[1]), np.log(LOG_FLOOR), np.float32)
        out = np.concatenate([out, fill], axis=1)
    return np.ascontiguousarray(out)
