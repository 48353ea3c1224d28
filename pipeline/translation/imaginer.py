"""One thread runs the model for every client of `s2i listen`: windows are batched through it.

Live windows (1 s of microphone sound) and file windows wait in two queues. The
worker takes every waiting live window (up to `max_batch`) in one batch, so
eight clients cost one encoder and one generator call per second; a file's
windows come in chunks and run only when no live window waits, so a long file
never delays the people listening. A window whose client has gone is a
cancelled future and is skipped.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from PIL import Image

from s2i_models.rng import RandomStream

from pipeline.dataset.embeddings import embed_mels
from pipeline.dataset.loader import tensor_to_image
from pipeline.media.features import log_mel, segment_slice
from pipeline.translation.contact_sheet import heat_map
from pipeline.translation.sounds import MEL, SPREAD_TOP, WINDOW_S, Model, draw_samples

WINDOW_SAMPLES = int(round(WINDOW_S * MEL.sample_rate))
# Live windows carry the last 2 hops of the previous window, so their log-Mel frames
# are the frames `s2i translate` computes for the same second of a continuous recording.
CONTEXT_SAMPLES = 2 * MEL.hop


@dataclass
class Picture:
    """What one window becomes: PNG bytes of the first sample and of the spread heat map."""

    image: bytes
    spread: bytes | None
    spread_mean: float | None


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def live_mel(context: np.ndarray, window: np.ndarray) -> np.ndarray:
    """128 x 100 log-Mel of a 1-s window that follows `context` (the previous window's tail, or zeros)."""
    sound = np.concatenate([context[-CONTEXT_SAMPLES:], window]).astype(np.float32)
    return segment_slice(log_mel(sound, MEL), CONTEXT_SAMPLES / MEL.sample_rate, MEL)


def level_dbfs(window: np.ndarray) -> float:
    """RMS level of a window in dB relative to full scale (digital silence gives -120)."""
    rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64)))) if len(window) else 0.0
    return max(-120.0, 20 * float(np.log10(max(rms, 1e-6))))


@dataclass
class _Job:
    mels: np.ndarray  # n x 128 x 100
    future: Future  # -> list[Picture], one per window


class Imaginer:
    """The model behind a worker thread; `submit` returns a Future of one Picture per window."""

    def __init__(self, model: Model, samples: int = 4, max_batch: int = 32, seed: int = 0):
        self.model, self.samples, self.max_batch = model, samples, max_batch
        self._live: deque[_Job] = deque()
        self._files: deque[_Job] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self.batches = 0  # generator calls so far (the load test reads it)
        self.windows = 0
        self._random = RandomStream(seed, model.device)  # the dropout draws; the process's RNG is left alone
        self._drawing = threading.Lock()  # the worker and warm_up share the stream
        self._thread = threading.Thread(target=self._run, name="imaginer", daemon=True)
        self._thread.start()

    def submit(self, mels: np.ndarray, live: bool) -> Future:
        job = _Job(np.asarray(mels, np.float32), Future())
        with self._wake:
            if self._stopping:
                raise RuntimeError("the model has stopped")
            (self._live if live else self._files).append(job)
            self._wake.notify()
        return job.future

    def warm_up(self, calls: int = 5) -> None:
        """The first model calls are slow (kernel choice, allocations): make them before any client waits."""
        for _ in range(calls):
            self.imagine(np.zeros((1, MEL.n_mels, MEL.segment_frames), np.float32))
        self.batches = self.windows = 0

    def waiting(self) -> int:
        """Windows queued and not yet started."""
        with self._wake:
            return sum(len(j.mels) for j in self._live) + sum(len(j.mels) for j in self._files)

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            for job in (*self._live, *self._files):
                job.future.cancel()
            self._live.clear()
            self._files.clear()
            self._wake.notify()
        self._thread.join(timeout=10)

    def _next_batch(self) -> list[_Job]:
        with self._wake:
            while not (self._live or self._files or self._stopping):
                self._wake.wait()
            batch, windows = [], 0
            while self._live and windows < self.max_batch:
                job = self._live.popleft()
                batch.append(job)
                windows += len(job.mels)
            if not batch and self._files:
                batch.append(self._files.popleft())
            return batch

    def _run(self) -> None:
        while not self._stopping:
            jobs = [job for job in self._next_batch() if job.future.set_running_or_notify_cancel()]
            if not jobs:
                continue
            try:
                pictures = self.imagine(np.concatenate([job.mels for job in jobs]))
            except Exception as err:  # the clients get the error; the worker goes on
                for job in jobs:
                    job.future.set_exception(err)
                continue
            first = 0
            for job in jobs:
                job.future.set_result(pictures[first : first + len(job.mels)])
                first += len(job.mels)

    def imagine(self, mels: np.ndarray) -> list[Picture]:
        """N log-Mels -> N pictures (first sample + spread map across `samples` draws)."""
        with self._drawing, self._random:
            emb = embed_mels(self.model.encoder, self.model.scale, mels, batch_size=len(mels))
            images = draw_samples(self.model, emb, self.samples)
        first = tensor_to_image(images[:, 0])
        pictures = []
        if self.samples > 1:
            spreads = images.std(dim=1, unbiased=False).mean(dim=1).cpu().numpy()
            for pixels, spread in zip(first, spreads):
                pictures.append(Picture(png(pixels), png(heat_map(spread / SPREAD_TOP)), round(float(spread.mean()), 4)))
        else:
            pictures = [Picture(png(pixels), None, None) for pixels in first]
        self.batches += 1
        self.windows += len(mels)
        return pictures
