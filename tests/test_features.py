import librosa
import numpy as np
import pytest

from pipeline.media.features import LOG_FLOOR, MelConfig, log_mel, segment_slice


def librosa_log_mel(y, cfg):
    mel = librosa.feature.melspectrogram(
        y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop, win_length=cfg.n_fft, window="hamming", center=True, pad_mode="constant", power=2.0, n_mels=cfg.n_mels
    )
    return np.log(mel + LOG_FLOOR)


def test_config_matches_paper():
    cfg = MelConfig()
    assert (cfg.n_fft, cfg.hop, cfg.n_mels, cfg.segment_frames) == (400, 160, 128, 100)


@pytest.mark.parametrize("seconds", [1.0, 3.37])
def test_log_mel_equals_librosa(rng, seconds):
    cfg = MelConfig()
    t = np.arange(int(seconds * cfg.sample_rate)) / cfg.sample_rate
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ours, ref = log_mel(y, cfg), librosa_log_mel(y, cfg)
    assert ours.shape == ref.shape == (128, 1 + t.size // cfg.hop)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)


def test_segment_slice_is_100_frames_at_start(rng):
    cfg = MelConfig()
    y = rng.standard_normal(3 * cfg.sample_rate).astype(np.float32)
    spec = log_mel(y, cfg)
    seg = segment_slice(spec, 1.0, cfg)
    assert seg.shape == (128, 100) and seg.dtype == np.float32
    np.testing.assert_array_equal(seg, spec[:, 100:200])


def test_segment_slice_pads_short_tail_with_floor(rng):
    cfg = MelConfig()
    spec = log_mel(rng.standard_normal(cfg.sample_rate + 800).astype(np.float32), cfg)
    seg = segment_slice(spec, 0.5, cfg)
    assert seg.shape == (128, 100)
    assert np.all(seg[:, -10:] == np.float32(np.log(LOG_FLOOR)))


def test_tone_lands_in_the_right_mel_band():
    cfg = MelConfig()
    t = np.arange(cfg.sample_rate) / cfg.sample_rate
    spec = log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32), cfg)
    band = int(np.argmax(spec[:, 50]))
    centres = librosa.mel_frequencies(n_mels=cfg.n_mels + 2, fmax=cfg.sample_rate / 2)[1:-1]
    assert abs(centres[band] - 1000) < 60


def test_mel_filterbank_equals_librosa():
    from pipeline.media.features import _mel_basis

    cfg = MelConfig()
    ref = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels)
    np.testing.assert_allclose(_mel_basis(cfg), ref, rtol=1e-5, atol=1e-7)
