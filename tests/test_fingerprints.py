import io

import numpy as np
import pytest
import scipy.fft
from PIL import Image

from pipeline.audit import fingerprints as fp


def smooth_scene(seed: int, size: int = 96) -> np.ndarray:
    """A natural-looking frame: a few random blobs and an edge on a gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    picture = np.zeros((size, size, 3))
    picture += rng.uniform(0, 1, 3) * x[..., None] + rng.uniform(0, 1, 3) * y[..., None]
    for _ in range(6):
        cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        picture += rng.uniform(-1, 1, 3) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / r**2)[..., None]
    picture -= picture.min()
    return (255 * picture / picture.max()).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int = 40) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def reference_phash(image: np.ndarray) -> int:
    """Straightforward per-image pHash with PIL/scipy, to check the vectorised one."""
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    small = grey.reshape(32, 3, 32, 3).mean(axis=(1, 3))  # 96 -> 32 area resize
    coef = scipy.fft.dctn(small, norm="ortho")[:8, :8].reshape(-1)
    median = np.median(coef[1:])
    return sum(1 << i for i, c in enumerate(coef) if c > median)


def test_phash_matches_reference_implementation():
    images = np.stack([smooth_scene(s) for s in range(8)])
    hashes, _, blank = fp.image_hashes(images)
    assert [int(h) for h in hashes] == [reference_phash(im) for im in images]
    assert not blank.any()


def test_mirror_hash_is_hash_of_mirrored_image():
    images = np.stack([smooth_scene(s) for s in range(8)])
    _, mirrors, _ = fp.image_hashes(images)
    direct, _, _ = fp.image_hashes(images[:, :, ::-1])
    assert (fp.hamming(mirrors, direct) <= 1).all()
    assert (fp.hamming(mirrors, fp.image_hashes(images)[0]) > 10).all()  # the scenes are not symmetric


def test_phash_survives_jpeg_crop_scale_and_separates_scenes():
    scene = smooth_scene(1)
    cropped = np.asarray(Image.fromarray(scene[3:93, 2:94]).resize((96, 96), Image.BILINEAR))
    scaled = np.asarray(Image.fromarray(scene).resize((48, 48), Image.BILINEAR).resize((96, 96), Image.BILINEAR))
    variants = np.stack([scene, jpeg(scene, 30), cropped, scaled])
    hashes, _, _ = fp.image_hashes(variants)
    assert (fp.hamming(hashes[0], hashes[1:]) <= 8).all()
    others, _, _ = fp.image_hashes(np.stack([smooth_scene(s) for s in range(2, 30)]))
    assert fp.hamming(hashes[0], others).min() > 12


def test_blank_frames_are_marked():
    flat = np.full((2, 96, 96, 3), 17, np.uint8)
    flat[1, :, :48] = 18
    _, _, blank = fp.image_hashes(np.concatenate([flat, smooth_scene(0)[None]]))
    assert blank.tolist() == [True, True, False]


def test_bad_image_shape_is_an_error():
    with pytest.raises(ValueError, match="N x H x W x 3"):
        fp.image_hashes(np.zeros((96, 96, 3), np.uint8))


@pytest.mark.parametrize("radius", [0, 3, 9, 13])
def test_near_pairs_equals_brute_force(radius):
    rng = np.random.default_rng(radius)
    base = rng.integers(0, 2**63, 1500, dtype=np.uint64) * np.uint64(2)
    query = rng.integers(0, 2**63, 700, dtype=np.uint64) * np.uint64(2)
    # plant near copies of base hashes with 0..radius+2 bits flipped
    for n, j in enumerate(range(0, 700, 7)):
        flips = rng.choice(64, size=n % (radius + 3), replace=False)
        query[j] = base[n] ^ np.uint64(sum(1 << int(b) for b in flips))
    i, j, d = fp.near_pairs(base, query, radius)
    all_d = np.bitwise_count(base[:, None] ^ query[None, :])
    want_i, want_j = np.nonzero(all_d <= radius)
    assert sorted(zip(i.tolist(), j.tolist())) == sorted(zip(want_i.tolist(), want_j.tolist()))
    assert (d == all_d[i, j]).all()
    assert len(i) >= 700 // 7 * (radius + 1) // (radius + 3)


def test_near_pairs_rejects_bad_radius_and_handles_empty():
    with pytest.raises(ValueError, match="radius"):
        fp.near_pairs(np.zeros(3, np.uint64), np.zeros(3, np.uint64), 40)
    i, j, d = fp.near_pairs(np.zeros(0, np.uint64), np.zeros(3, np.uint64), 4)
    assert len(i) == len(j) == len(d) == 0


def noise_mel(seed: int, frames: int = 600) -> np.ndarray:
    """A non-stationary log-Mel-like matrix: coloured noise with a moving envelope."""
    rng = np.random.default_rng(seed)
    env = np.convolve(rng.normal(size=frames + 40), np.ones(40) / 40, "valid")[:frames]
    tilt = np.linspace(0, -4, 128)[:, None]
    return (tilt + 3 * env[None, :] + rng.normal(scale=1.0, size=(128, frames))).astype(np.float32)


def test_subfingerprints_ignore_gain_and_separate_clips():
    mel = noise_mel(0)
    words, valid = fp.audio_subfingerprints(mel)
    louder, valid2 = fp.audio_subfingerprints(mel + np.log(0.2**2))
    assert valid.mean() > 0.95 and (valid == valid2).all()
    assert (words[valid] == louder[valid]).mean() > 0.99
    other, valid3 = fp.audio_subfingerprints(noise_mel(1))
    ber, _ = fp.aligned_ber(words, valid, other, valid3, 0)
    assert 0.45 < ber < 0.55


def test_gaps_make_words_invalid():
    mel = noise_mel(2)
    mel[:, 200:300] = np.nan
    words, valid = fp.audio_subfingerprints(mel, smooth=10, step=3)
    assert not valid[200:300].any()
    assert valid[320:590].all() and valid[20:190].all()
    assert not valid[-4:].any()  # the smoothing window runs off the end


def test_best_alignment_matches_brute_force_and_finds_shift():
    wa, va = fp.audio_subfingerprints(noise_mel(3, 700))
    noisy = noise_mel(3, 700)[:, 250:650] + np.random.default_rng(9).normal(scale=0.3, size=(128, 400))
    wb, vb = fp.audio_subfingerprints(noisy)
    ber, offset, frames = fp.best_alignment(wa, va, wb, vb, min_overlap=100)
    brute = {o: fp.aligned_ber(wa, va, wb, vb, o) for o in range(-300, 600)}
    usable = {o: b for o, (b, n) in brute.items() if n >= 100}
    want = min(usable, key=usable.get)
    assert offset == want == 250
    assert ber == pytest.approx(usable[want]) and frames == brute[want][1]
    assert ber < 0.3


def test_signature_candidates_rank_the_copy_first():
    sigs = np.stack([fp.clip_signature(fp.mel_bands(noise_mel(s))) for s in range(20)])
    copy = fp.clip_signature(fp.mel_bands(noise_mel(7) + 1.5))
    i, j = fp.signature_candidates(sigs, copy[None], k=1)
    assert i.tolist() == [7] and j.tolist() == [0]


def test_colour_thumbnails_tell_same_layout_scenes_apart_but_keep_copies():
    rng = np.random.default_rng(3)
    layout = np.zeros((96, 96), np.float32)
    layout[20:70, 30:66] = 1.0  # one shape in the middle of a plain room
    scene_a = (layout[..., None] * [200, 120, 90] + (1 - layout[..., None]) * [230, 200, 240]).astype(np.uint8)
    scene_b = (layout[..., None] * [120, 70, 40] + (1 - layout[..., None]) * [240, 230, 190]).astype(np.uint8)
    scene_a = np.clip(scene_a + rng.integers(-3, 4, scene_a.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(scene_a[:, ::-1]).save(buf, format="JPEG", quality=60)
    copy = np.asarray(Image.open(buf).convert("RGB"))
    thumbs = fp.colour_thumbnails(np.stack([scene_a, scene_b, copy]))
    dist = fp.colour_distance(thumbs[[0, 0]], thumbs[[1, 2]], np.array([False, True]))
    assert dist[0] > 20 and dist[1] < 5
