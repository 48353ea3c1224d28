"""Metric arithmetic against hand-computed values."""
import numpy as np
import pytest

from pipeline import metrics
from pipeline.labelsets import balanced_sets, pick_evenly


def test_moving_average_dense_series():
    ends, means = metrics.moving_average([1, 2, 3, 4, 5], [1.0, 2.0, 3.0, 4.0, 10.0], window=3)
    assert list(ends) == [3, 4, 5]
    assert means == pytest.approx([2.0, 3.0, 17 / 3])
    assert metrics.max_moving_average([1, 2, 3, 4, 5], [1, 2, 3, 4, 10], 3) == (pytest.approx(17 / 3), 5)


def test_moving_average_sparse_snapshots_uses_epochs_inside_the_window():
    # snapshots every 5 epochs; a 10-epoch window ending at e holds epochs e-5 and e
    ends, means = metrics.moving_average([5, 10, 15, 20], [0.1, 0.3, 0.2, 0.6], window=10)
    assert list(ends) == [15, 20]                      # 10 would need epoch 1..10 -> starts before epoch 5
    assert means == pytest.approx([0.25, 0.4])


def test_series_shorter_than_window():
    assert np.isnan(metrics.max_moving_average([1, 2], [0.5, 0.5], 5)[0])


def test_window_mean():
    assert metrics.window_mean([1, 2, 3, 4], [1, 2, 3, 8], 2, 3) == pytest.approx(2.5)
    assert np.isnan(metrics.window_mean([1, 2], [1, 2], 5, 9))


def test_two_epochs_after_a_d_update_take_the_mean_of_the_five_before():
    epochs = list(range(1, 13))
    values = [1, 2, 3, 4, 5, 100, 100, 8, 9, 10, 100, 100]
    d = metrics.d_update_epochs(12, every=5, unit="epoch")
    assert d == [5, 10]
    fixed = metrics.replace_after_d_updates(epochs, values, d, after=2, before=5)
    # epochs 6, 7 <- mean(1..5) = 3; epochs 11, 12 <- mean of original epochs 6..10 = (100+100+8+9+10)/5
    assert list(fixed) == pytest.approx([1, 2, 3, 4, 5, 3, 3, 8, 9, 10, 45.4, 45.4])
    assert metrics.d_update_epochs(12, 5, "iteration") == []
    with pytest.raises(ValueError, match="unknown discriminator unit"):
        metrics.d_update_epochs(12, 5, "batch")


def test_bad_series_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        metrics.window_mean([2, 1], [0, 0], 0, 3)
    with pytest.raises(ValueError, match="equal length"):
        metrics.moving_average([1, 2], [0.0], 1)


def test_frechet_distance_hand_values():
    # 1-d: (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2) = 4 + 1 + 4 - 4 = 5
    assert metrics.frechet_distance([0.0], [[1.0]], [2.0], [[4.0]]) == pytest.approx(5.0)
    # diagonal 2-d: sum over dims of (sqrt(a) - sqrt(b))^2 plus the mean term
    cov1, cov2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    assert metrics.frechet_distance([1, 1], cov1, [1, 2], cov2) == pytest.approx(1 + (1 - 2) ** 2 + (3 - 1) ** 2)
    # a rotated covariance against itself: zero
    rot = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    cov = rot @ np.diag([2.0, 0.5]) @ rot.T
    assert metrics.frechet_distance([0, 0], cov, [0, 0], cov) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_samples_matches_the_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (500, 3)), rng.normal(1, 2, (400, 3))
    mu_a, cov_a = a.mean(0), np.cov(a, rowvar=False)
    mu_b, cov_b = b.mean(0), np.cov(b, rowvar=False)
    # for commuting (here: compare with a scipy-free reference via eigen-decomposition of cov_a @ cov_b)
    cross = np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real.clip(0)).sum()
    reference = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert metrics.frechet_distance_of(a, b) == pytest.approx(reference, rel=1e-6)


def test_retrieval_and_memorisation():
    gallery = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    queries = np.array([[1.0, 1.0], [9.0, 1.0], [1.0, 8.0], [9.0, 0.0]])
    assert list(metrics.nearest_neighbours(queries, gallery)) == [0, 1, 2, 1]
    assert metrics.retrieval_accuracy(queries, [0, 1, 1, 0], gallery, [0, 1, 2]) == pytest.approx(0.5)
    assert metrics.memorisation_share(queries, ["a", "b", "x", "x"], gallery, ["a", "x", "c"]) == pytest.approx(0.5)


def test_diversity_is_the_mean_pairwise_absolute_difference():
    samples = np.zeros((3, 2, 4))           # 3 samples of 2 sounds
    samples[1, 0] = 1.0                     # sound 0: pairs (0,1)=1, (0,2)=0, (1,2)=1
    samples[2, 1] = 0.5                     # sound 1: pairs 0, 0.5, 0.5
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


def test_balanced_sets_draw_evenly_from_snapshots():
    import pandas as pd

    n = 60
    records = pd.DataFrame({"class_index": [1] * n, "epoch": [5, 10, 15] * (n // 3)})
    labels = np.array([1 if i % 4 == 0 else 0 for i in range(n)])   # 15 informative, 45 not
    sets = balanced_sets(records, labels, per_class=20, test_share=0.2, seed=0)
    train, test = sets["Dog"]["train"], sets["Dog"]["test"]
    rows = np.concatenate([train, test])
    assert len(rows) == 20 and len(test) == 4 and not set(train) & set(test)
    assert (labels[rows] == 1).sum() == 10 and (labels[test] == 1).sum() == 2
    counts = records["epoch"].to_numpy()[rows[labels[rows] == 0]]
    assert sorted(np.unique(counts, return_counts=True)[1]) == [3, 3, 4]   # 10 drawn round-robin from 3 snapshots
    assert len(sets["Baby cry"]["train"]) == 0
