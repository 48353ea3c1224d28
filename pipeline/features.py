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
import librosa

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


@lru_cache(maxsize=8)
def _mel_basis(cfg: MelConfig) -> np.ndarray:
    return librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels).astype(np.float32)


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
    out = spectrogram[:, first:first + cfg.segment_frames]
    if out.shape[1] < cfg.segment_frames:
        fill = np.full((spectrogram.shape[0], cfg.segment_frames - out.shape[1]), np.log(LOG_FLOOR), np.float32)
        out = np.concatenate([out, fill], axis=1)
    return np.ascontiguousarray(out)
