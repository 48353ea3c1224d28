import hashlib

import numpy as np
import pytest
import webdataset as wds_lib

from pipeline.dataset import wds


def samples(rng, n=5):
    for i in range(n):
        yield (
            f"clip_{i:03d}_000000",
            {
                "mel.npy": wds.encode_npy(rng.standard_normal((128, 100)).astype(np.float32)),
                "png": wds.encode_png(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)),
                "json": wds.encode_json({"segment_id": f"clip_{i:03d}_000000", "class_index": i % 5}),
            },
        )


def test_tar_round_trips_through_webdataset(tmp_path):
    path = tmp_path / "train-000000.tar"
    written = list(samples(np.random.default_rng(1)))
    assert wds.write_tar(path, written) == 5
    got = list(wds_lib.WebDataset(str(path), shardshuffle=False).decode("rgb8"))
    assert [g["__key__"] for g in got] == [k for k, _ in written]
    for g, (_, fields) in zip(got, written):
        np.testing.assert_array_equal(g["mel.npy"], wds.decode_npy(fields["mel.npy"]))
        np.testing.assert_array_equal(g["png"], wds.decode_png(fields["png"]))


def test_same_samples_give_identical_bytes(tmp_path):
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    wds.write_tar(a, samples(np.random.default_rng(2)))
    wds.write_tar(b, samples(np.random.default_rng(2)))
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_iter_tar_matches_written(tmp_path):
    path = tmp_path / "val-000000.tar"
    written = list(samples(np.random.default_rng(3), 3))
    wds.write_tar(path, written)
    assert list(wds.iter_tar(path)) == written


def test_key_with_dot_is_refused_and_nothing_is_left(tmp_path):
    path = tmp_path / "x.tar"
    with pytest.raises(ValueError, match="contains a dot"):
        wds.write_tar(path, [("a.b", {"json": b"{}"})])
    assert list(tmp_path.iterdir()) == []
