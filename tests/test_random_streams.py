"""Library functions draw from random streams of their own: calling one leaves the process's torch RNG as it
was, and its output is still the same for a seed, the same as when it reseeded the process (issue 22)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pipeline.commands.translate import translate_file
from pipeline.dataset.loader import SplitArrays, tensor_to_image
from pipeline.evaluation import classifiers, labelsets, report
from pipeline.training import autoencoder, translator
from pipeline.translation.imaginer import Imaginer
from pipeline.translation.sounds import load_model
from s2i_models.rng import RandomStream
from stage_fixtures import write_synthetic_shards
from stage_fixtures import AE_PARAMS, TRANSLATOR_PARAMS, embeddings_workspace
from test_evaluate import INFO_PARAMS
from test_translate import EMB_DIM, encode, save_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.set_num_threads(1)
    return load_model(save_tiny_model(tmp_path_factory.mktemp("model")), torch.device("cpu"))


def global_states() -> tuple:
    """The process's torch, Python and NumPy global generator states, comparable with ==."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return (tuple(torch.get_rng_state().tolist()), random.getstate(), (name, tuple(keys.tolist()), pos, has_gauss, cached))


@pytest.fixture
def caller_stream():
    """The caller's own seeded streams (torch, Python, NumPy); yields a check that they are exactly where the
    caller left them."""
    torch.manual_seed(1234), random.seed(1234), np.random.seed(1234)
    state = global_states()
    yield lambda: global_states() == state


def embeddings(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (n, EMB_DIM)).astype(np.float32)


def as_if_reseeded(seed: int, make):
    """What `make()` gave when the library called torch.manual_seed(seed) (the caller's state kept here)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def test_a_stream_continues_across_blocks_and_leaves_the_caller_alone(caller_stream):
    stream = RandomStream(7)
    with stream:
        first = torch.rand(3)
    between = torch.rand(2)  # the caller draws between the stream's blocks
    with stream:
        second = torch.rand(3)
    assert torch.equal(torch.cat([first, second]), as_if_reseeded(7, lambda: torch.rand(6)))
    torch.manual_seed(1234)
    assert torch.equal(between, torch.rand(2))  # the caller's stream did not see the blocks
    with pytest.raises(RuntimeError, match="one block at a time"), stream, stream:
        pass


def test_labelsets_translate(model, caller_stream):
    G, emb = model.generator, embeddings()
    images = labelsets.translate(G, emb, seed=3)
    assert caller_stream()
    assert np.array_equal(images, labelsets.translate(G, emb, seed=3))
    assert not np.array_equal(images, labelsets.translate(G, emb, seed=4))  # dropout draws: the seed matters
    expected = as_if_reseeded(3, lambda: tensor_to_image(G(torch.from_numpy(emb))))
    assert np.array_equal(images, expected)


def test_report_truth_vs_translation_figure(model, caller_stream):
    rng = np.random.default_rng(1)
    test = SplitArrays(keys=[f"k{i}" for i in range(10)], class_index=np.arange(10) % 5, images=rng.integers(0, 256, (10, 96, 96, 3), dtype=np.uint8))
    emb = embeddings(10)
    figure = report.fig16_truth_vs_translation(model.generator, test, emb, seed=2)
    assert caller_stream()
    again = report.fig16_truth_vs_translation(model.generator, test, emb, seed=2)
    assert np.array_equal(np.asarray(figure), np.asarray(again))


def test_classifiers_train_from_their_own_stream(tmp_path, caller_stream):
    write_synthetic_shards(tmp_path)
    p = {**INFO_PARAMS, **INFO_PARAMS["class_match"], "epochs": 2}
    first = classifiers.train_class_match(p, tmp_path / "a", tmp_path / "data/shards")
    assert caller_stream()
    second = classifiers.train_class_match(p, tmp_path / "b", tmp_path / "data/shards")
    assert first == second
    weights = [torch.load(tmp_path / run / "class_match.pt", weights_only=True)["models"]["classifier"] for run in ("a", "b")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_imaginer_draws_from_its_own_stream(model, caller_stream):
    mels = np.random.default_rng(2).normal(-4, 2, (3, 128, 100)).astype(np.float32)
    pictures = []
    for seed in (0, 0, 1):
        imaginer = Imaginer(model, samples=2, seed=seed)
        try:
            pictures.append([(p.image, p.spread) for p in imaginer.imagine(mels)])
        finally:
            imaginer.stop()
    assert caller_stream()
    assert pictures[0] == pictures[1] and pictures[0] != pictures[2]


def test_translate_file_draws_from_its_own_stream(model, tmp_path, caller_stream):
    sound = encode(tmp_path / "tone.wav", 2.5)
    sidecars = [translate_file(sound, tmp_path / f"out{k}", "tone", model, samples=2, seed=5) for k in range(2)]
    assert caller_stream()
    assert sidecars[0] == sidecars[1]
    files = [sorted((tmp_path / f"out{k}" / "tone").glob("*.png")) for k in range(2)]
    assert len(files[0]) >= 4 and [f.read_bytes() for f in files[0]] == [f.read_bytes() for f in files[1]]


def trained_weights(path) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": value for name, state in torch.load(path, weights_only=True)["models"].items() for key, value in state.items()}


def test_training_runs_draw_from_their_own_stream(tmp_path, monkeypatch, caller_stream):
    """translator.train and autoencoder.train seed a stream of their own (not the process): the caller's torch,
    Python and NumPy generators are untouched, also by resuming from a checkpoint, and a seed still gives the
    same networks. Their checkpoints keep only torch's states, so resuming reseeds nothing of the caller's."""
    p = {**TRANSLATOR_PARAMS, "epochs": 1, "noise_dim": 8}
    runs = []
    for name in ("a", "b"):
        root = embeddings_workspace(tmp_path / name)
        monkeypatch.chdir(root)
        out = root / "models/translator"
        folders = dict(out_dir=out, live_dir=root / "live", emb_dir=root / "data/embeddings", shard_dir=root / "data/shards")
        translator.train(p, **folders)
        translator.train({**p, "epochs": 2}, **folders)  # resumes from last.pt
        autoencoder.train(16, {**AE_PARAMS, "epochs": 1})
        runs.append({f: trained_weights(root / "models" / f) for f in ("translator/generator.pt", "translator/discriminator.pt", "autoencoder/best.pt")})
        assert set(torch.load(out / "last.pt", weights_only=True)["rng"]) <= {"torch", "cuda"}
    assert caller_stream()
    for f, weights in runs[0].items():
        assert weights.keys() == runs[1][f].keys()
        assert all(torch.equal(weights[k], runs[1][f][k]) for k in weights), f
