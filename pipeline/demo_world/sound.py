"""Class sounds, background and mixing for the demo world.

Each class synthesiser returns the class source alone (`ClassSound.wave`), its
loudness envelope at CONTROL_RATE and the event timings it used (barks, bangs,
clacks, cry bouts). The scene reads the same envelope and events, which is what
ties the picture of a second to the sound of that second. The class source is
silent outside the annotated event span; `mix` then adds background noise and an
optional other-class distractor at random levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONTROL_RATE = 100  # envelope samples per second


@dataclass
class ClassSound:
    wave: np.ndarray  # mono float64 class source
    env: np.ndarray  # loudness 0..1 at CONTROL_RATE
    events: dict = field(default_factory=dict)

    def env_at(self, t: float) -> float:
        return float(self.env[min(max(int(t * CONTROL_RATE), 0), len(self.env) - 1)])


def _spectrum_noise(rng, n: int, sr: int, lo: float, hi: float, tilt_db_oct: float = 0.0) -> np.ndarray:
    """Unit-RMS noise band-limited to lo..hi Hz with a spectral tilt (dB per octave)."""
    size = 1 << max(int(n - 1).bit_length(), 4)  # power-of-two FFT, then cut to n
    spec = rng.standard_normal(size // 2 + 1) + 1j * rng.standard_normal(size // 2 + 1)
    f = np.maximum(np.fft.rfftfreq(size, 1.0 / sr), 1.0)
    gain = np.exp(np.log(f / 1000.0) * (tilt_db_oct / 6.02))
    gain /= np.sqrt((1 + (lo / f) ** 4) * (1 + (f / hi) ** 4))
    x = np.fft.irfft(spec * gain, size)[:n]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _slow_noise(rng, n: int, sr: int, cutoff: float) -> np.ndarray:
    """Smooth random curve in 0..1 varying at about `cutoff` Hz."""
    m = int(n / sr * 20) + 2
    coarse = _spectrum_noise(rng, m, 20, 0.001, cutoff)
    x = np.interp(np.arange(n) / sr * 20, np.arange(m), coarse)
    return np.clip(0.5 + 0.25 * x, 0, 1)


def _gate(n: int, sr: int, start: float, end: float, ramp: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.clip(np.minimum((t - start) / ramp, (end - t) / ramp), 0, 1)


def _envelope(wave: np.ndarray, sr: int) -> np.ndarray:
    hop = sr // CONTROL_RATE
    m = max(len(wave) // hop, 1)
    frames = np.resize(wave, m * hop).reshape(m, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    rms = np.convolve(rms, np.ones(3) / 3, mode="same")
    peak = rms.max()
    return rms / peak if peak > 0 else rms


def _harmonics(phase: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_k w_k sin(k phase), by the recurrence sin(kx) = 2 cos(x) sin((k-1)x) - sin((k-2)x)."""
    two_cos = 2 * np.cos(phase)
    prev, cur = np.zeros_like(phase), np.sin(phase)
    out = weights[0] * cur
    for w in weights[1:]:
        prev, cur = cur, two_cos * cur - prev
        out += w * cur
    return out / np.sqrt(np.sum(weights**2) / 2)


def baby_cry(style, rng, sr, duration, span) -> ClassSound:
    """Harmonic cry bouts with vibrato and a rise-fall melody, separated by inhalations."""
    n = int(round(duration * sr))
    base = style["cry_f0"]
    f0 = np.full(n, base)
    amp = np.zeros(n)
    bouts = []
    s = span[0] + rng.uniform(0, 0.15)
    while s < span[1] - 0.25:
        e = min(s + rng.uniform(0.5, 1.6), span[1])
        bouts.append((s, e, rng.uniform(0.88, 1.25), rng.uniform(0.55, 1.0)))
        s = e + rng.uniform(0.15, 0.55)
    for s, e, pitch, loud in bouts:
        i0, i1 = int(s * sr), int(e * sr)
        x = np.linspace(0, 1, i1 - i0)
        f0[i0:i1] = base * pitch * (1 + 0.18 * np.sin(np.pi * x) - 0.1 * x)
        amp[i0:i1] = loud * np.clip(np.minimum(x * (e - s) / 0.06, (1 - x) * (e - s) / 0.1), 0, 1)
    t = np.arange(n) / sr
    f = f0 * (1 + style["vib_depth"] * np.sin(2 * np.pi * style["vib_rate"] * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    k = np.arange(1, int(0.4 * sr / (base * 1.6)) + 1)
    f1, f2 = style["formants"]
    weights = k ** -style["rolloff"] * (1 + 2 * np.exp(-(((k * base - f1) / 500) ** 2)) + 1.5 * np.exp(-(((k * base - f2) / 800) ** 2)))
    wave = _harmonics(phase, weights[:14]) * amp
    wave += 0.1 * _spectrum_noise(rng, n, sr, 1000, 6000) * amp
    hop = sr // CONTROL_RATE
    pitch = np.where(amp[::hop] > 0, f0[::hop] / base, 0.0)
    return ClassSound(wave, _envelope(wave, sr), {"bouts": bouts, "pitch": pitch})


def dog_bark(style, rng, sr, duration, span) -> ClassSound:
    """Series of short barks: a fast pitch rise and fall, harmonics plus a noisy burst."""
    n = int(round(duration * sr))
    barks = []
    s = span[0] + rng.uniform(0, 0.25)
    while s < span[1] - 0.1:
        for _ in range(int(rng.integers(1, 5))):
            length = rng.uniform(0.08, 0.25)
            if s + length > span[1]:
                break
            barks.append((s, s + length, rng.uniform(0.5, 1.0), rng.uniform(0.88, 1.15)))
            s += length + rng.uniform(0.12, 0.35)
        s += rng.uniform(0.3, 1.6)
    wave = np.zeros(n)
    k = np.arange(1, 9)
    weights = k**-0.8 * (1 + np.exp(-(((k * style["bark_f0"] - 1500) / 700) ** 2)))
    for s, e, loud, pitch in barks:
        i0 = int(s * sr)
        m = min(int((e - s) * sr), n - i0)
        x = np.arange(m) / m
        f = style["bark_f0"] * pitch * (1 + 0.35 * np.sin(np.pi * np.minimum(x * 2.5, 1)) - 0.25 * x)
        tone = _harmonics(2 * np.pi * np.cumsum(f) / sr, weights)
        burst = _spectrum_noise(rng, m, sr, 500, 4000)
        shape = np.minimum(np.arange(m) / (0.008 * sr), 1) * np.exp(-x * style["bark_decay"])
        wave[i0 : i0 + m] += loud * shape * ((1 - style["rough"]) * tone + style["rough"] * burst)
    return ClassSound(wave, _envelope(wave, sr), {"barks": barks})


def rail(style, rng, sr, duration, span) -> ClassSound:
    """Rumble and motor hum while the train passes, double clacks each time a coupling passes the camera."""
    n = int(round(duration * sr))
    speed = rng.uniform(0.35, 1.4)  # scene units per second
    car = style["car_len"]
    # The train front passes the camera (u = 0) 0.3 s after the span starts, its rear 0.3 s before it ends.
    t_front, t_rear = span[0] + 0.3, max(span[1] - 0.3, span[0] + 0.35)
    couplings = np.arange(t_front, t_rear + 1e-9, car / speed)
    gap = 0.1 * car / speed
    clacks = np.sort(np.concatenate([couplings[1:] - gap, couplings + gap]))
    clacks = clacks[(clacks > span[0]) & (clacks < span[1])]
    t = np.arange(n) / sr
    gate = _gate(n, sr, span[0], span[1], 0.3)
    level = 0.4 + 0.6 * speed / 1.4
    rumble = _spectrum_noise(rng, n, sr, 25, style["rumble_cut"], -3)
    hum = np.sin(2 * np.pi * style["hum"] * t) + 0.5 * np.sin(4 * np.pi * style["hum"] * t)
    wave = level * gate * (0.45 * rumble + 0.15 * hum)
    m = int(0.08 * sr)
    tt = np.arange(m) / sr
    ring = sum(np.sin(2 * np.pi * f * tt) for f in style["clack_freqs"]) * np.exp(-tt / 0.018)
    for c in clacks:
        i0 = int(c * sr)
        j = min(m, n - i0)
        click = rng.standard_normal(j) * np.exp(-tt[:j] / 0.003)
        wave[i0 : i0 + j] += level * rng.uniform(0.6, 1.0) * (0.5 * ring[:j] + click)
    return ClassSound(wave, _envelope(wave, sr), {"speed": speed, "t_front": t_front, "t_rear": t_rear, "clacks": clacks})


def fireworks(style, rng, sr, duration, span) -> ClassSound:
    """Bangs: a click and a low-passed noise boom with exponential decay; some whistle up first or crackle after."""
    n = int(round(duration * sr))
    bangs = []
    tb = span[0] + rng.uniform(0, 0.4)
    while tb < span[1] - 0.05:
        bangs.append(
            {
                "t": tb,
                "amp": rng.uniform(0.3, 1.0),
                "decay": rng.uniform(0.2, 0.8),
                "u": rng.uniform(-0.33, 0.33),
                "v": rng.uniform(-0.36, 0.02),
                "hue": style["hue_centre"] + rng.uniform(-1, 1) * style["hue_spread"],
                "shape": int(rng.integers(0, 3)),
                "rays": int(rng.integers(10, 22)),
                "whistle": bool(rng.random() < 0.3 and tb - span[0] > 0.8),
                "crackle": bool(rng.random() < 0.35),
                "cut": rng.uniform(700, 2500),
            }
        )
        tb += rng.exponential(1 / style["rate"]) + 0.15
    wave = np.zeros(n)
    for b in bangs:
        i0 = int(b["t"] * sr)
        m = min(int(b["decay"] * 5 * sr), n - i0)
        tt = np.arange(m) / sr
        boom = _spectrum_noise(rng, m, sr, 30, b["cut"], -2) * np.exp(-tt / b["decay"])
        boom += 2.0 * rng.standard_normal(m) * np.exp(-tt / 0.004)
        wave[i0 : i0 + m] += b["amp"] * boom
        if b["whistle"]:
            w0 = int((b["t"] - 0.7) * sr)
            x = np.linspace(0, 1, i0 - w0)
            f = 1400 + 2200 * x
            wave[w0:i0] += 0.15 * b["amp"] * x * np.sin(2 * np.pi * np.cumsum(f) / sr)
        if b["crackle"]:
            for c in b["t"] + 0.2 + rng.uniform(0, 2 * b["decay"], rng.poisson(60 * b["decay"])):
                j0 = int(c * sr)
                j = min(int(0.002 * sr), n - j0)
                if j > 0:
                    wave[j0 : j0 + j] += 0.35 * b["amp"] * rng.standard_normal(j)
    return ClassSound(wave, _envelope(wave, sr), {"bangs": bangs})


def water(style, rng, sr, duration, span) -> ClassSound:
    """Broadband flowing noise whose level drifts slowly, plus bubbling chirps at a level-dependent rate."""
    n = int(round(duration * sr))
    level = style["force"] * (0.35 + 0.65 * _slow_noise(rng, n, sr, 0.4)) * _gate(n, sr, span[0], span[1], 0.3)
    wave = level * _spectrum_noise(rng, n, sr, 80, style["bright_cut"], style["tilt"])
    count = rng.poisson(25 * style["force"] * (span[1] - span[0]))
    for c in rng.uniform(span[0], span[1], count):
        i0 = int(c * sr)
        m = min(int(rng.uniform(0.01, 0.04) * sr), n - i0)
        x = np.arange(m) / max(m, 1)
        f = rng.uniform(300, 1400) * (1 + 1.5 * x)
        wave[i0 : i0 + m] += rng.uniform(0.1, 0.5) * level[i0] * np.sin(2 * np.pi * np.cumsum(f) / sr) * np.sin(np.pi * x)
    hop = sr // CONTROL_RATE
    env = level[::hop] / style["force"]
    return ClassSound(wave, env, {"level": env})


SYNTHS = [baby_cry, dog_bark, rail, fireworks, water]


def class_sound(class_index: int, style: dict, rng, sr: int, duration: float, span: tuple[float, float]) -> ClassSound:
    return SYNTHS[class_index](style, rng, sr, duration, span)


def _rms_in(wave: np.ndarray, sr: int, span) -> float:
    part = wave[int(span[0] * sr) : int(span[1] * sr)]
    return float(np.sqrt(np.mean(part**2))) if part.size else 0.0


def mix(source: ClassSound, span, rng, sr: int, channels: int, pan: float, distractor: ClassSound | None, distractor_span) -> np.ndarray:
    """int16 samples (n x channels): class source + background at a random SNR + distractor, random gain."""
    n = len(source.wave)
    ref = max(_rms_in(source.wave, sr, span), 1e-4)
    background_level = ref / 10 ** (rng.uniform(8, 30) / 20)
    hum = 0.0
    if rng.random() < 0.3:
        t = np.arange(n) / sr
        hum = 0.3 * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t)
    wind = _slow_noise(rng, n, sr, 0.3) if rng.random() < 0.4 else 0.5
    angle = (np.clip(pan, -1, 1) + 1) * np.pi / 4
    gains = [np.cos(angle), np.sin(angle)] if channels == 2 else [np.sqrt(0.5)]
    d_gains = [rng.uniform(0.2, 1.0) for _ in gains]
    d_level = 0.0
    if distractor is not None:
        d_level = ref / 10 ** (rng.uniform(6, 20) / 20) / max(_rms_in(distractor.wave, sr, distractor_span), 1e-4)
    out = np.zeros((n, channels))
    for ch, g in enumerate(gains):
        bg = _spectrum_noise(rng, n, sr, 40, 8000, -3) * (0.5 + wind) + hum
        out[:, ch] = g * source.wave + background_level * bg
        if distractor is not None:
            out[:, ch] += d_level * d_gains[ch] * distractor.wave
    peak = np.abs(out).max()
    out *= rng.uniform(0.3, 0.95) / max(peak, 1e-9)
    return np.round(out * 32767).astype(np.int16)
