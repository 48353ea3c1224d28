"""Perceptual fingerprints for the leakage audit, all vectorised over numpy arrays.

Images: a 64-bit DCT perceptual hash (pHash) per frame, plus the hash of the
horizontally mirrored frame, and a multi-index Hamming search (`near_pairs`)
that finds every pair within a radius without comparing all pairs.

Audio: Haitsma-Kalker style sub-fingerprints computed from a log-Mel
spectrogram: one 32-bit word per 10 ms frame, bit m set when the energy
difference of bands m and m+1 grows over time. Differences of log energies do
not change with gain; smoothing over ~100 ms makes them survive re-encoding.
Two clips are compared by the bit error rate (BER) at their best alignment;
candidate pairs come from a gain-free spectral signature (top-k cosine).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np
import scipy.fft

HASH_BITS = 64
HASH_SIZE = 32  # the frame is reduced to 32 x 32 grey before the DCT
LOW_FREQ = 8  # the hash keeps the 8 x 8 lowest frequencies
BAND_BITS = 16  # multi-index hashing: 4 bands of 16 bits
SUBFP_BITS = 32


# ---------------------------------------------------------------- images


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix: coefficients = D @ signal."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


@lru_cache(maxsize=8)
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """n_out x n_in matrix averaging the input pixels each output pixel covers (area resize)."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for o in range(n_out):
        for i in range(int(np.floor(edges[o])), int(np.ceil(edges[o + 1]))):
            m[o, i] = min(edges[o + 1], i + 1) - max(edges[o], i)
    return (m / m.sum(axis=1, keepdims=True)).astype(np.float32)


def grey_thumbnails(images: np.ndarray) -> np.ndarray:
    """N x H x W x 3 uint8 -> N x 32 x 32 float32 luma, area-resized."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be N x H x W x 3, got shape {images.shape}")
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    rows = _area_matrix(images.shape[1], HASH_SIZE)
    cols = _area_matrix(images.shape[2], HASH_SIZE)
    return rows @ luma @ cols.T


def _pack_bits(bits: np.ndarray) -> np.ndarray:
    """N x 64 bool -> N uint64 (bit i of the word is column i)."""
    packed = np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")
    return packed.view("<u8").reshape(-1).astype(np.uint64)


def _bits_over_median(coef: np.ndarray) -> np.ndarray:
    flat = coef.reshape(len(coef), -1)
    median = np.median(flat[:, 1:], axis=1, keepdims=True)  # DC excluded: it only measures brightness
    return _pack_bits(flat > median)


def image_hashes(images: np.ndarray, blank_std: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pHash of each frame, pHash of its mirror image, and a mask of blank (featureless) frames.

    Mirroring x -> W-1-x multiplies horizontal DCT frequency k by (-1)^k, so the
    mirrored hash comes from the same coefficients. Blank frames (grey std below
    `blank_std` on the 0-255 scale) all hash alike and must not be matched.
    """
    grey = grey_thumbnails(images)
    d = _dct_matrix(HASH_SIZE)[:LOW_FREQ]
    coef = d @ grey @ d.T  # N x 8 x 8, [vertical, horizontal]
    sign = np.where(np.arange(LOW_FREQ) % 2 == 1, -1.0, 1.0).astype(np.float32)
    blank = grey.reshape(len(grey), -1).std(axis=1) < blank_std
    return _bits_over_median(coef), _bits_over_median(coef * sign), blank


def colour_thumbnails(images: np.ndarray, size: int = 8) -> np.ndarray:
    """N x size x size x 3 block means (uint8): the colours that pHash, grey and coarse, ignores."""
    n, h, w, c = images.shape
    blocks = images.reshape(n, size, h // size, size, w // size, c).astype(np.float32)
    return blocks.mean(axis=(2, 4)).round().astype(np.uint8)


def colour_distance(a: np.ndarray, b: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-255) of paired colour thumbnails, b mirrored where asked."""
    b = np.where(mirrored[:, None, None, None], b[:, :, ::-1], b)
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=(1, 2, 3))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int32)


@lru_cache(maxsize=16)
def _flip_masks(bits: int, max_weight: int) -> np.ndarray:
    """Every `bits`-bit mask with at most `max_weight` bits set."""
    masks = [0]
    for w in range(1, max_weight + 1):
        for pos in combinations(range(bits), w):
            masks.append(sum(1 << p for p in pos))
    return np.array(masks, dtype=np.int64)


def near_pairs(base: np.ndarray, query: np.ndarray, radius: int, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (i, j) with hamming(base[i], query[j]) <= radius, as (i, j, distance) sorted by (i, j).

    Multi-index hashing: the 64 bits are cut into 4 bands of 16; a pair within
    `radius` has some band within radius // 4 (pigeonhole), so each query probes,
    per band, the buckets of its band value with up to radius // 4 bits flipped,
    and only those candidates get a full distance.
    """
    base = np.ascontiguousarray(base, dtype=np.uint64)
    query = np.ascontiguousarray(query, dtype=np.uint64)
    if not 0 <= radius < HASH_BITS // 2:
        raise ValueError(f"radius {radius} must be in 0..{HASH_BITS // 2 - 1}")
    empty = np.zeros(0, dtype=np.int64)
    if len(base) == 0 or len(query) == 0:
        return empty, empty, empty.astype(np.int32)
    n_bands = HASH_BITS // BAND_BITS
    masks = _flip_masks(BAND_BITS, radius // n_bands)
    found_i, found_j = [], []
    for band in range(n_bands):
        shift = np.uint64(band * BAND_BITS)
        band_of = lambda h: ((h >> shift) & np.uint64(0xFFFF)).astype(np.int64)  # noqa: E731
        base_keys = band_of(base)
        order = np.argsort(base_keys, kind="stable")
        starts = np.searchsorted(base_keys[order], np.arange((1 << BAND_BITS) + 1))
        query_keys = band_of(query)
        for lo_q in range(0, len(query), chunk):
            qk = query_keys[lo_q : lo_q + chunk]
            probes = (qk[:, None] ^ masks[None, :]).reshape(-1)
            q_index = np.repeat(np.arange(lo_q, lo_q + len(qk)), len(masks))
            lo, hi = starts[probes], starts[probes + 1]
            counts = hi - lo
            total = int(counts.sum())
            if total == 0:
                continue
            j = np.repeat(q_index, counts)
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            i = order[np.repeat(lo, counts) + offsets]
            keep = hamming(base[i], query[j]) <= radius
            found_i.append(i[keep])
            found_j.append(j[keep])
    if not found_i:
        return empty, empty, empty.astype(np.int32)
    pair = np.unique(np.concatenate(found_i) * len(query) + np.concatenate(found_j))
    i, j = pair // len(query), pair % len(query)
    return i, j, hamming(base[i], query[j])


# ---------------------------------------------------------------- audio

N_AUDIO_BANDS = SUBFP_BITS + 1


def mel_bands(log_mel: np.ndarray, lo_frac: float = 0.05, hi_frac: float = 0.80) -> np.ndarray:
    """n_mels x T log-Mel -> 33 x T mean log energy of contiguous Mel band groups (NaN gaps kept).

    Only [lo_frac, hi_frac) of the Mel range is used: lossy codecs cut the top.
    """
    log_mel = np.asarray(log_mel, dtype=np.float32)
    if log_mel.ndim != 2:
        raise ValueError(f"log-Mel must be 2-D (n_mels x frames), got shape {log_mel.shape}")
    n_mels = log_mel.shape[0]
    edges = np.linspace(lo_frac * n_mels, hi_frac * n_mels, N_AUDIO_BANDS + 1).round().astype(int)
    if np.any(np.diff(edges) < 1):
        raise ValueError(f"{n_mels} Mel bands are too few for {N_AUDIO_BANDS} fingerprint bands")
    csum = np.concatenate([np.zeros((1, log_mel.shape[1]), np.float32), np.cumsum(log_mel, axis=0)])
    return (csum[edges[1:]] - csum[edges[:-1]]) / np.diff(edges)[:, None].astype(np.float32)


def subfingerprints(bands: np.ndarray, smooth: int = 10, step: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """33 x T band energies (NaN columns = gaps) -> (words uint32[T], valid bool[T]).

    Energies are averaged over `smooth` frames; bit m of frame t is set when
    (E[m,t]-E[m+1,t]) - (E[m,t-step]-E[m+1,t-step]) > 0. A word is valid when every
    frame it read is present and not all its differences are zero (digital silence).
    """
    bands = np.asarray(bands, dtype=np.float64)
    n_frames = bands.shape[1]
    present = ~np.isnan(bands).any(axis=0)
    filled = np.where(present[None, :], bands, 0.0)
    kernel = np.ones(smooth)
    tsum = np.stack([np.convolve(row, kernel, "same") for row in filled])
    tcount = np.convolve(present.astype(float), kernel, "same")
    complete = tcount > smooth - 0.5
    energy = tsum / np.maximum(tcount, 1.0)
    diff = energy[:-1] - energy[1:]  # 32 x T
    words = np.zeros(n_frames, dtype=np.uint32)
    valid = np.zeros(n_frames, dtype=bool)
    if n_frames > step:
        delta = diff[:, step:] - diff[:, :-step]
        weights = (np.uint64(1) << np.arange(SUBFP_BITS, dtype=np.uint64))[:, None]
        words[step:] = ((delta > 1e-9).astype(np.uint64) * weights).sum(axis=0).astype(np.uint32)
        valid[step:] = complete[step:] & complete[:-step] & (np.abs(delta) > 1e-6).any(axis=0)
    return words, valid


def audio_subfingerprints(log_mel: np.ndarray, smooth: int = 10, step: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return subfingerprints(mel_bands(log_mel), smooth, step)


def clip_signature(bands: np.ndarray) -> np.ndarray:
    """A gain-free summary of a clip's band energies (66 floats): spectral shape and its spread in time.

    Used only to pick candidate pairs, which the fingerprints then verify.
    """
    bands = np.asarray(bands, dtype=np.float64)
    bands = bands[:, ~np.isnan(bands).any(axis=0)]
    if bands.shape[1] == 0:
        return np.zeros(2 * N_AUDIO_BANDS)
    mean = bands.mean(axis=1)
    return np.concatenate([mean - mean.mean(), bands.std(axis=1)])


def _bit_planes(words: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """32 x T array of +1 / -1 per bit, 0 where the word is not valid."""
    bits = (words[None, :].astype(np.int64) >> np.arange(SUBFP_BITS)[:, None]) & 1
    return ((2.0 * bits - 1.0) * valid[None, :]).astype(np.float32)


def _spectrum(words: np.ndarray, valid: np.ndarray, size: int, decimate: int) -> np.ndarray:
    """FFT of the decimated bit planes with the validity mask as a 33rd row."""
    planes = np.vstack([_bit_planes(words, valid), valid[None, :].astype(np.float32)])[:, ::decimate]
    return scipy.fft.rfft(planes, size, axis=1)


def fft_size(longest: int, decimate: int) -> int:
    return 1 << int(np.ceil(np.log2(max(2 * (longest // decimate + 1), 2))))


def best_alignment(
    words_a: np.ndarray,
    valid_a: np.ndarray,
    words_b: np.ndarray,
    valid_b: np.ndarray,
    min_overlap: int,
    decimate: int = 2,
    spectrum_b: np.ndarray | None = None,
    size: int | None = None,
) -> tuple[float, int, int]:
    """(ber, offset, frames): the lowest bit error rate of a[t + offset] against b[t] over the
    offsets where at least `min_overlap` valid frames overlap; (1.0, 0, 0) when none does.

    One FFT cross-correlation of the +-1 bit planes (every `decimate`-th frame: the
    words are smoothed over ~100 ms) scores all offsets at once; the best is then
    refined to the exact frame with `aligned_ber`. `spectrum_b` may hold b's
    `_spectrum` at `size`, reused when one clip is compared with many.
    """
    n_a, n_b = len(words_a), len(words_b)
    size = size or fft_size(max(n_a, n_b), decimate)
    if spectrum_b is None:
        spectrum_b = _spectrum(words_b, valid_b, size, decimate)
    cross = _spectrum(words_a, valid_a, size, decimate) * np.conj(spectrum_b)
    agree = scipy.fft.irfft(cross[:SUBFP_BITS].sum(axis=0), size)
    overlap = np.rint(scipy.fft.irfft(cross[SUBFP_BITS], size))
    offsets = np.where(np.arange(size) < size // 2, np.arange(size), np.arange(size) - size)
    usable = overlap * decimate >= max(min_overlap, 1)
    if not usable.any():
        return 1.0, 0, 0
    ber = np.where(usable, 0.5 * (1.0 - agree / (SUBFP_BITS * np.maximum(overlap, 1))), np.inf)
    coarse = int(offsets[np.argmin(ber)]) * decimate
    best = (1.0, 0, 0)
    for offset in range(coarse - decimate, coarse + decimate + 1):
        b, n = aligned_ber(words_a, valid_a, words_b, valid_b, offset)
        if n >= max(min_overlap, 1) and b < best[0]:
            best = (b, offset, n)
    return best


def aligned_ber(words_a: np.ndarray, valid_a: np.ndarray, words_b: np.ndarray, valid_b: np.ndarray, offset: int) -> tuple[float, int]:
    """Bit error rate between a[t + offset] and b[t] over frames valid in both; (ber, frames)."""
    t_b = np.arange(len(words_b))
    t_a = t_b + offset
    inside = (t_a >= 0) & (t_a < len(words_a))
    t_a, t_b = t_a[inside], t_b[inside]
    both = valid_a[t_a] & valid_b[t_b]
    n = int(both.sum())
    if n == 0:
        return 1.0, 0
    errors = np.bitwise_count(words_a[t_a[both]] ^ words_b[t_b[both]]).sum()
    return float(errors) / (n * SUBFP_BITS), n


def signature_candidates(base: np.ndarray, query: np.ndarray, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the k base rows of highest cosine similarity (after z-scoring both
    with the statistics of their union); returns (i_base, j_query)."""
    base = np.asarray(base, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    if len(base) == 0 or len(query) == 0 or k <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    both = np.concatenate([base, query])
    mu, sd = both.mean(axis=0), both.std(axis=0) + 1e-9
    unit = lambda x: (z := (x - mu) / sd) / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)  # noqa: E731
    base_u, query_u = unit(base), unit(query)
    k = min(k, len(base))
    found_i, found_j = [], []
    for lo in range(0, len(query_u), chunk):
        sim = query_u[lo : lo + chunk] @ base_u.T
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        found_i.append(top.reshape(-1))
        found_j.append(np.repeat(np.arange(lo, lo + len(sim)), k))
    return np.concatenate(found_i), np.concatenate(found_j)
