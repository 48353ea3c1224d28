"""Metric arithmetic against hand-computed values."""

import numpy as np
import pytest
import scipy.linalg
import torch

from pipeline.evaluation import metrics
from pipeline.evaluation.realism import KID_SUBSETS, ClassifierFeatures, RealismJudge, TextureStatistics, blurred, floor_measures, kid_subset_size
from pipeline.evaluation.labelsets import balanced_sets, pick_evenly
from pipeline.training import schedule


def test_moving_average_dense_series():
    ends, means = metrics.moving_average([1, 2, 3, 4, 5], [1.0, 2.0, 3.0, 4.0, 10.0], window=3)
    assert list(ends) == [3, 4, 5]
    assert means == pytest.approx([2.0, 3.0, 17 / 3])
    assert metrics.max_moving_average([1, 2, 3, 4, 5], [1, 2, 3, 4, 10], 3) == (pytest.approx(17 / 3), 5)


def test_moving_average_sparse_snapshots_uses_epochs_inside_the_window():
    # snapshots every 5 epochs; a 10-epoch window ending at e holds epochs e-5 and e
    ends, means = metrics.moving_average([5, 10, 15, 20], [0.1, 0.3, 0.2, 0.6], window=10)
    assert list(ends) == [15, 20]  # 10 would need epoch 1..10 -> starts before epoch 5
    assert means == pytest.approx([0.25, 0.4])


def test_series_shorter_than_window():
    assert np.isnan(metrics.max_moving_average([1, 2], [0.5, 0.5], 5)[0])


def test_window_mean():
    assert metrics.window_mean([1, 2, 3, 4], [1, 2, 3, 8], 2, 3) == pytest.approx(2.5)
    assert np.isnan(metrics.window_mean([1, 2], [1, 2], 5, 9))


def test_two_epochs_after_a_d_update_take_the_mean_of_the_five_before():
    epochs = list(range(1, 13))
    values = [1, 2, 3, 4, 5, 100, 100, 8, 9, 10, 100, 100]
    d = schedule.d_update_epochs(12, every=5, unit="epoch")
    assert d == [5, 10]
    fixed = metrics.replace_after_d_updates(epochs, values, d, after=2, before=5)
    # epochs 6, 7 <- mean(1..5) = 3; epochs 11, 12 <- mean of original epochs 6..10 = (100+100+8+9+10)/5
    assert list(fixed) == pytest.approx([1, 2, 3, 4, 5, 3, 3, 8, 9, 10, 45.4, 45.4])
    assert schedule.d_update_epochs(12, 5, "iteration") == []
    with pytest.raises(ValueError, match="unknown discriminator unit"):
        schedule.d_update_epochs(12, 5, "batch")


def test_bad_series_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        metrics.window_mean([2, 1], [0, 0], 0, 3)
    with pytest.raises(ValueError, match="equal length"):
        metrics.moving_average([1, 2], [0.0], 1)


class PassThrough(torch.nn.Module):
    """A feature module that hands torchmetrics the rows it is given: FD and KID of hand-made features."""

    num_features = 3

    def forward(self, rows):
        return rows.double()


def gaussian_sets(seed=0, n=300):
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.3, 0.5, 0.4]])
    a = rng.normal(0, 1, (n, 3)) @ mixing
    b = rng.normal(0, 1, (n, 3)) @ np.diag([2.0, 0.5, 1.0]) + [1.0, -0.5, 0.2]
    return a, b


def test_frechet_distance_matches_the_closed_form_of_the_sample_gaussians():
    a, b = gaussian_sets()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    judge = RealismJudge(PassThrough(), b)
    assert judge.frechet_distance(a) == pytest.approx(reference, rel=1e-6)
    assert judge.frechet_distance(b) == pytest.approx(0.0, abs=1e-8)  # the real set against itself
    assert judge.frechet_distance(a) == pytest.approx(reference, rel=1e-6)  # a reset forgets the previous set


def unbiased_mmd2(x, y):
    """Polynomial-kernel (x.y / d + 1)^3 MMD^2, unbiased, over the whole sets (KID's estimator)."""
    kernel = lambda u, v: (u @ v.T / x.shape[1] + 1) ** 3
    m, n = len(x), len(y)
    kxx, kyy = kernel(x, x), kernel(y, y)
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kernel(x, y).mean()


def test_kid_is_the_subset_average_of_the_unbiased_mmd_and_near_zero_for_one_distribution():
    a, b = gaussian_sets()
    same, _ = gaussian_sets(seed=1)  # a second draw from a's distribution
    judge = RealismJudge(PassThrough(), a, seed=0)
    shifted_mean, shifted_std = judge.kernel_distance(b)
    # over all subsets the average of the subset estimates is the whole-set estimate; 100 draws land within
    # a few std / sqrt(100) of it
    assert shifted_mean == pytest.approx(unbiased_mmd2(a, b), abs=4 * shifted_std / np.sqrt(KID_SUBSETS))
    same_mean, same_std = judge.kernel_distance(same)
    assert abs(same_mean) < 4 * same_std / np.sqrt(KID_SUBSETS) + 1e-3
    assert shifted_mean > 20 * max(abs(same_mean), same_std / np.sqrt(KID_SUBSETS))
    assert abs(judge.kernel_distance(a)[0]) < 0.1 * shifted_mean  # identical sets
    assert judge.kernel_distance(b) == (shifted_mean, shifted_std)  # seeded subsets


def test_the_floor_averages_draws_of_the_second_real_pool():
    a, b = gaussian_sets()
    judge = RealismJudge(PassThrough(), a)
    # draws of the whole pool are the pool itself (in another order): the single-set figures, no spread
    whole = floor_measures(judge, b, size=len(b), draws=3, seed=0)
    assert whole["frechet_distance"] == pytest.approx(judge.frechet_distance(b), rel=1e-9)
    assert whole["frechet_distance_std"] == pytest.approx(0.0, abs=1e-9) and whole["draws"] == 3
    # draws of a third of a pool from a's own distribution: near a, and each draw differs
    same, _ = gaussian_sets(seed=1, n=900)
    third = floor_measures(judge, same, size=300, draws=4, seed=0)
    assert third["frechet_distance"] < 0.1 * whole["frechet_distance"] and third["frechet_distance_std"] > 0
    assert third == floor_measures(judge, same, size=300, draws=4, seed=0)


def speckled_frames(n, seed):
    """Frames of one colour each, speckled with bright pixels: colour everywhere, texture at every place."""
    rng = np.random.default_rng(seed)
    frames = np.broadcast_to(rng.integers(40, 200, (n, 1, 1, 3)), (n, 96, 96, 3)).astype(np.uint8).copy()
    frames[rng.random((n, 96, 96)) < 0.1] = 255
    return frames


def test_blurred_keeps_the_colours_and_drops_the_texture():
    frames = speckled_frames(4, 0)
    soft = blurred(frames)
    assert soft.dtype == np.uint8 and soft.shape == frames.shape
    assert np.allclose(soft.mean((1, 2)), frames.mean((1, 2)), atol=2.0)
    assert soft.std((1, 2)).mean() < 0.3 * frames.std((1, 2)).mean()
    assert np.array_equal(blurred(np.full((1, 96, 96, 3), 77, np.uint8)), np.full((1, 96, 96, 3), 77, np.uint8))


def test_texture_statistics_score_blurred_frames_as_less_real_than_real_ones():
    """Per channel of the first layer: the spatial mean and std (checked by hand); against speckled frames,
    blurred draws of the same kind of frames are further than unblurred draws, in FD and in KID."""
    from s2i_models.informativity import InformativityClassifier

    torch.manual_seed(0)
    net = InformativityClassifier(1.0).eval()
    feature = TextureStatistics(net)
    frames = speckled_frames(8, 1)
    with torch.no_grad():
        maps = net.features[0](torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1)
    assert feature.num_features == 2 * maps.shape[1]
    assert torch.allclose(feature(torch.from_numpy(frames)), torch.cat([maps.mean((2, 3)), maps.std((2, 3))], 1).double(), atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        feature(torch.zeros(1, 96, 96, 3))
    judge = RealismJudge(feature, speckled_frames(60, 2))
    pool = speckled_frames(200, 3)
    real = floor_measures(judge, pool, 60, 3, seed=0)
    soft = floor_measures(judge, pool, 60, 3, seed=0, transform=blurred)
    assert soft["frechet_distance"] > 2 * real["frechet_distance"], (soft, real)
    assert soft["kid_mean"] > real["kid_mean"] + 3 * real["kid_std"] / np.sqrt(KID_SUBSETS)


def test_kid_subsets_take_half_the_smaller_set():
    assert kid_subset_size(105, 105) == 52 and kid_subset_size(40, 300) == 20
    with pytest.raises(ValueError, match="at least 4 images"):
        kid_subset_size(3, 100)


def test_classifier_features_are_the_judges_features_and_need_no_dummy_forward():
    from pipeline.evaluation.classifiers import features
    from s2i_models.rebuild import class_match_net

    torch.manual_seed(0)
    net = class_match_net(0.25, 5).eval()
    module = ClassifierFeatures(net)
    images = np.random.default_rng(0).integers(0, 256, (6, 96, 96, 3), dtype=np.uint8)
    out = module(torch.from_numpy(images))
    assert out.dtype == torch.float64 and out.shape == (6, module.num_features)
    assert out.numpy() == pytest.approx(features(net, images).astype(np.float64))
    with pytest.raises(ValueError, match="expected uint8 images N x 96 x 96 x 3"):
        module(torch.zeros(1, 3, 299, 299, dtype=torch.uint8))  # torchmetrics' probe without num_features
    judge = RealismJudge(module, images)  # so building the metrics probes nothing
    module.train()
    assert not net.training
    assert judge.frechet_distance(images) == pytest.approx(0.0, abs=1e-6)


def test_nearest_distances_and_within_class_spread_hand_values():
    gallery = np.array([[0.0, 0.0], [10.0, 0.0]])
    assert metrics.nearest_distances([[3.0, 4.0], [10.0, 1.0], [0.0, 0.0]], gallery) == pytest.approx([5, 1, 0])
    # a 3-4-5 triangle: pairs 3, 4, 5 -> mean 4
    assert metrics.mean_pairwise_distance([[0, 0], [3, 0], [0, 4]]) == pytest.approx(4.0)
    assert np.isnan(metrics.mean_pairwise_distance([[1.0, 2.0]]))
    spread = metrics.within_class_spread([[0, 0], [3, 0], [0, 4], [7, 7], [7, 9]], [0, 0, 0, 2, 2], 3)
    assert spread[0] == pytest.approx(4.0) and np.isnan(spread[1]) and spread[2] == pytest.approx(2.0)


def test_retrieval_and_memorisation():
    gallery = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    queries = np.array([[1.0, 1.0], [9.0, 1.0], [1.0, 8.0], [9.0, 0.0]])
    assert list(metrics.nearest_neighbours(queries, gallery)) == [0, 1, 2, 1]
    assert metrics.retrieval_accuracy(queries, [0, 1, 1, 0], gallery, [0, 1, 2]) == pytest.approx(0.5)
    assert metrics.memorisation_share(queries, ["a", "b", "x", "x"], gallery, ["a", "x", "c"]) == pytest.approx(0.5)


def test_diversity_is_the_mean_pairwise_absolute_difference():
    samples = np.zeros((3, 2, 4))  # 3 samples of 2 sounds
    samples[1, 0] = 1.0  # sound 0: pairs (0,1)=1, (0,2)=0, (1,2)=1
    samples[2, 1] = 0.5  # sound 1: pairs 0, 0.5, 0.5
    assert metrics.diversity(samples) == pytest.approx((2 / 3 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.diversity(np.zeros((1, 2, 4)))


def test_class_shares():
    shares = metrics.class_shares([1, 0, 1, 1], [0, 0, 1, 1], 3)
    assert shares[:2] == [0.5, 1.0] and np.isnan(shares[2])


def test_pick_evenly_spreads_and_keeps_the_last():
    assert pick_evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert pick_evenly([1, 2], 5) == [1, 2]
    assert pick_evenly(list(range(10)), 1) == [9]


def test_balanced_sets_split_by_source_video_and_draw_evenly_from_snapshots():
    import pandas as pd

    # Dog: 60 images, epochs 5/10/15 in turn, informative when i % 4 == 0, from four videos:
    #   va rows 0-5 (informative 0, 4: 2 / not 4), vb 6-23 (8, 12, 16, 20: 4 / 14),
    #   vc 24-41 (24 .. 40: 5 / 13), vd 42-59 (44 .. 56: 4 / 14); 15 informative, 45 not in all.
    # per_class 20 -> 10 per label, 2 of them test. Test {va} gives min(2, 4, 2) = 2 on the test side and
    # min(8, 41, 13) = 8 on the train side, like any other single video, but is the smallest (6 images).
    dog = pd.DataFrame({"class_index": 1, "epoch": [5, 10, 15] * 20, "source_video": ["va"] * 6 + ["vb"] * 18 + ["vc"] * 18 + ["vd"] * 18})
    dog_labels = [1 if i % 4 == 0 else 0 for i in range(60)]
    # Rail transport: both labels, but all from one video; Fireworks: vf only informative, vg only not
    rail = pd.DataFrame({"class_index": 2, "epoch": 5, "source_video": ["ve"] * 6})
    fireworks = pd.DataFrame({"class_index": 3, "epoch": 5, "source_video": ["vf"] * 3 + ["vg"] * 3})
    # Water flowing: informative only; its -1 row is unlabelled and does not count
    water = pd.DataFrame({"class_index": 4, "epoch": 5, "source_video": ["vh", "vi", "vj"]})
    records = pd.concat([dog, rail, fireworks, water], ignore_index=True)
    labels = np.array(dog_labels + [0, 1] * 3 + [1, 1, 1, 0, 0, 0] + [1, 1, -1])
    sets = balanced_sets(records, labels, per_class=20, test_share=0.2, seed=0)

    d = sets["Dog"]
    assert d.reason is None and d.test_videos == ["va"]
    assert {0, 4} < set(d.test) <= set(range(6)) and len(d.test) == 4  # va's two informative images and 2 others
    assert set(records["source_video"][d.train]) == {"vb", "vc", "vd"}
    assert (labels[d.train] == 1).sum() == (labels[d.train] == 0).sum() == 8
    assert (labels[d.test] == 1).sum() == (labels[d.test] == 0).sum() == 2
    epochs = records["epoch"].to_numpy()
    for label in (0, 1):  # 8 drawn round-robin from the three snapshots: 3, 3, 2
        rows = d.train[labels[d.train] == label]
        assert sorted(np.unique(epochs[rows], return_counts=True)[1]) == [2, 3, 3]

    assert sets["Baby cry"].reason == "0 informative and 0 not-informative labelled images"
    assert sets["Rail transport"].reason == ("all labelled images come from one source video (ve); a split by video needs two")
    assert sets["Fireworks"].reason == ("no split by source video has both labels on both sides (informative/not per video: vf: 3/0, vg: 0/3)")
    assert sets["Water flowing"].reason == "2 informative and 0 not-informative labelled images"
    for name in ("Baby cry", "Rail transport", "Fireworks", "Water flowing"):
        assert len(sets[name].train) == len(sets[name].test) == 0 and sets[name].test_videos == []


def test_post_update_correction_on_sparse_snapshots_hand_values():
    from pipeline.evaluation.judging import summaries

    # snapshot_every 2, d_every 5, after 2, before 5: evaluated epochs 2, 4, ..., 12; D trains after 5 and 10.
    #   D at 5:  sources (0, 5] -> epochs 2, 4 (0.2, 0.4): mean 0.3; replaced (5, 7] -> epoch 6 (0.9 -> 0.3)
    #   D at 10: sources (5, 10] -> epochs 6, 8, 10 with their original values (0.9, 0.5, 0.7): mean 0.7;
    #            replaced (10, 12] -> epoch 12 (0.1 -> 0.7)
    epochs = [2, 4, 6, 8, 10, 12]
    values = [0.2, 0.4, 0.9, 0.5, 0.7, 0.1]
    d = schedule.d_update_epochs(12, every=5)
    assert d == [5, 10]
    fixed = metrics.replace_after_d_updates(epochs, values, d, after=2, before=5)
    assert list(fixed) == pytest.approx([0.2, 0.4, 0.3, 0.5, 0.7, 0.7])
    assert metrics.corrected_epochs(epochs, d, after=2, before=5) == [6, 12]
    # snapshots only at the D epochs (snapshot_every == d_every == 5): the correction never fires
    assert metrics.corrected_epochs([5, 10, 15], schedule.d_update_epochs(15, 5), 2, 5) == []

    # the summaries use the corrected series:
    #   window [4, 10]: epochs 4, 6, 8, 10 -> (0.4 + 0.3 + 0.5 + 0.7) / 4 = 0.475 (raw would be 0.625)
    #   4-epoch moving average ending at e averages epochs (e - 4, e]: ends 6 (epochs 4, 6: 0.35),
    #   8 (6, 8: 0.4), 10 (8, 10: 0.6), 12 (10, 12: 0.7) -> max 0.7 ending at 12 (raw series: 0.7 ending at 8)
    per_epoch = [{"informativity": {**{c: v for c in metrics_classes()}, "mean": v}} for v in values]
    p = {"d_after": 2, "d_before": 5, "window_start": 4, "window_end": 10, "ma_window": 4}
    out = summaries(epochs, per_epoch, "informativity", p, d)
    for name in metrics_classes() + ["mean"]:
        assert out[name]["window_mean"] == pytest.approx(0.475)
        assert out[name]["max_moving_average"] == pytest.approx(0.7)
        assert out[name]["max_moving_average_end_epoch"] == 12


def metrics_classes():
    from pipeline.core.tables import CLASSES

    return list(CLASSES)


def test_ridge_translator_is_the_closed_form_with_alpha_chosen_on_val():
    from pipeline.training.ridge import fit_ridge, to_pixels

    rng = np.random.default_rng(0)
    mixing = rng.normal(0, 1, (6, 4 * 4 * 3))

    def world(n):  # pixels linear in the embedding, plus noise, inside [0, 255]
        emb = rng.normal(0, 1, (n, 6))
        images = np.clip(np.round(127.5 + 12 * (emb @ mixing) + rng.normal(0, 3, (n, 48))), 0, 255)
        return emb, images.astype(np.uint8).reshape(n, 4, 4, 3)

    (train_emb, train_images), (val_emb, val_images) = world(200), world(50)
    ridge = fit_ridge(train_emb, train_images, val_emb, val_images, relative_alphas=(1e-3, 1e3))
    # small noise: the small alpha must win; then W = (Xc^T Xc + alpha I)^-1 Xc^T Yc
    xc = train_emb - train_emb.mean(0)
    gram = xc.T @ xc
    alpha = 1e-3 * np.trace(gram) / 6
    assert ridge.alpha == pytest.approx(alpha)
    y = to_pixels(train_images).astype(np.float64)
    expected = np.linalg.solve(gram + alpha * np.eye(6), xc.T @ (y - y.mean(0)))
    assert ridge.weights == pytest.approx(expected, abs=1e-6)
    out = ridge.translate(val_emb)
    assert out.shape == val_images.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - val_images).mean() < 4  # about the noise level


def test_snapshot_epochs_let_the_correction_fire_with_the_papers_schedule():
    # the paper's schedule: D passes after epochs 5, 10, 15, 20; snapshots every 5 epochs.
    # Without the epochs after the passes, the correction would have nothing to replace (see above).
    kept = schedule.snapshot_epochs(22, snapshot_every=5, d_every=5, d_unit="epoch")
    assert kept == [5, 6, 10, 11, 15, 16, 20, 21, 22]
    assert metrics.corrected_epochs(kept, schedule.d_update_epochs(22, 5), after=2, before=5) == [6, 11, 16, 21, 22]
    # a D pass that lands on no snapshot adds nothing (the correction would have no source)
    assert schedule.snapshot_epochs(12, snapshot_every=4, d_every=6, d_unit="epoch") == [4, 8, 12]
    # D every iteration (the demo default): no epoch follows a pass, the snapshots stay regular
    assert schedule.snapshot_epochs(12, snapshot_every=5, d_every=1, d_unit="iteration") == [5, 10, 12]
    assert schedule.translator_snapshots({"epochs": 12, "snapshot_every": 5, "d_every": 1, "d_unit": "iteration"}) == [5, 10, 12]


def test_lr_factor_falls_linearly_over_the_last_share_of_the_epochs():
    assert [schedule.lr_factor(e, 4, 0.5) for e in range(1, 5)] == pytest.approx([1, 1, 2 / 3, 1 / 3])
    assert [schedule.lr_factor(e, 3, 1.0) for e in range(1, 4)] == pytest.approx([3 / 4, 2 / 4, 1 / 4])
    assert {schedule.lr_factor(e, 80, 0.0) for e in range(1, 81)} == {1.0}
    with pytest.raises(ValueError, match="lr_decay"):
        schedule.lr_factor(1, 80, -0.1)
