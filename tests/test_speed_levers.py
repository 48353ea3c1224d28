"""Speed levers (channels_last, compiled dense blocks) change how the steps run, not what they compute:
each step with a lever against the plain step from the same weights, batch and RNG state."""

import copy

import pytest
import torch
from torch._dynamo.backends.registry import lookup_backend

from s2i_models import DenseGenerator, Discriminator, EpochMovingAverage, GanConfig, discriminator_step, generator_step, make_optimizer
from s2i_models import compiled_blocks
from s2i_models.generator import Block
from s2i_models.speed_levers import SpeedLevers, as_input, compile_dense_blocks, place

pytestmark = pytest.mark.usefixtures("one_thread")

E, WIDTH, BATCH = 32, 0.0625, 4
PLAIN = SpeedLevers()  # frozen: one shared default is safe
CONFIGS = {  # the paper's GAN; the demo defaults' levers (params.yaml) without the noise input's extra width
    "paper": (dict(), dict(), GanConfig()),
    "demo": (
        dict(noise_dim=8, upsample="resize", output_bn=False),
        dict(projection=True, norm="spectral", dropout=0.25),
        GanConfig(loss="hinge", pixel_scale=8, augment="translation,cutout", lambda_adv=0.3, adv_average="batch"),
    ),
}


@pytest.fixture(autouse=True)
def fresh_compiled_blocks():
    compiled_blocks.reset()
    yield
    compiled_blocks.reset()


def networks(name, seed=0):
    g_kw, d_kw, _ = CONFIGS[name]
    torch.manual_seed(seed)
    return DenseGenerator(E, WIDTH, **g_kw), Discriminator(E, WIDTH, **d_kw)


def batch(levers=PLAIN, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    emb = torch.rand(BATCH, E, generator=g) * 2 - 1
    return emb.to(dtype), as_input((torch.rand(BATCH, 3, 96, 96, generator=g) * 2 - 1).to(dtype), levers)


def one_step_each(name, cfg, levers=PLAIN, prepare=lambda G, D: None, dtype=torch.float32):
    """A G step, then a D step from fresh networks (each from the same weights, batch and RNG state):
    their losses as floats and the gradients they took, by parameter name."""
    results = []
    for step in ("G", "D"):
        G, D = (place(m.to(dtype), "cpu", levers) for m in networks(name))
        prepare(G, D)
        emb, real = batch(levers, dtype)
        torch.manual_seed(2)
        if step == "G":
            losses = generator_step(G, D, make_optimizer("generator", G.parameters()), emb, real, EpochMovingAverage(cfg.adv_average), cfg)
        else:
            losses = discriminator_step(G, D, make_optimizer("discriminator", D.parameters()), emb, real, cfg)
        trained = G if step == "G" else D
        grads = {f"{step}.{k}": p.grad.clone() for k, p in trained.named_parameters()}
        buffers = {f"{step}.{k}": b.clone() for k, b in G.named_buffers() if b.is_floating_point()}
        results.append(({k: float(v) for k, v in losses.items()}, {**grads, **buffers}))
    return results


def assert_same_steps(a, b, rel, tensor_rtol):
    """Equal losses (within rel) and gradients and BatchNorm statistics (within tensor_rtol of each
    tensor's largest magnitude)."""
    for (losses_a, tensors_a), (losses_b, tensors_b) in zip(a, b):
        assert losses_b == pytest.approx(losses_a, rel=rel, abs=rel)
        assert tensors_a.keys() == tensors_b.keys()
        for name, tensor in tensors_a.items():
            scale = float(tensor.abs().max()) or 1.0
            torch.testing.assert_close(tensors_b[name], tensor, rtol=0, atol=tensor_rtol * scale, msg=name)


def test_automatic_levers_are_channels_last_on_cuda_only_and_follow_the_environment():
    assert SpeedLevers.automatic("cpu", env={}) == SpeedLevers()
    assert SpeedLevers.automatic("cuda", env={}) == SpeedLevers(channels_last=True)
    assert SpeedLevers.automatic("cuda", env={"S2I_COMPILE_BLOCKS": "1"}).compiled_blocks
    assert not SpeedLevers.automatic("cuda", 2, env={"S2I_COMPILE_BLOCKS": "1"}).compiled_blocks  # one process only
    assert not SpeedLevers.automatic("cpu", env={"S2I_COMPILE_BLOCKS": "1"}).compiled_blocks  # CUDA only
    assert SpeedLevers.automatic("cpu", env={"S2I_CHANNELS_LAST": "1"}).channels_last
    assert not SpeedLevers.automatic("cuda", env={"S2I_CHANNELS_LAST": "0"}).channels_last
    with pytest.raises(ValueError, match="S2I_CHANNELS_LAST"):
        SpeedLevers.automatic("cpu", env={"S2I_CHANNELS_LAST": "yes"})


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_channels_last_steps_equal_the_plain_steps(name):
    # In float64, so that what is compared is what the steps compute, not how the CPU's float32 kernels round:
    # in float32, PyTorch's CPU channels_last kernels put the demo G step's gradients (its pixel-loss path) up
    # to 6e-3 of a gradient's largest value from float64 (the plain step stays within 8e-5), and by
    # amounts that change with the CPU's vector width (AMD EPYC with AVX2: losses 1.7e-5 apart). In float64
    # both stay within 1e-13; the reported losses are float32 (a few ulps apart).
    cfg = CONFIGS[name][2]
    levers = SpeedLevers(channels_last=True)
    G, D = (place(m, "cpu", levers) for m in networks(name))
    convs = [m.weight for m in [*G.modules(), *D.modules()] if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs if w.shape[-1] > 1 and w.shape[1] > 1)
    f64 = torch.float64
    assert_same_steps(one_step_each(name, cfg, dtype=f64), one_step_each(name, cfg, levers, dtype=f64), rel=1e-6, tensor_rtol=1e-10)


def test_compiled_blocks_stay_eager_on_the_cpu(monkeypatch):
    def no_compile(*args, **kwargs):
        raise AssertionError("torch.compile called on the CPU")

    monkeypatch.setattr(torch, "compile", no_compile)
    cfg = CONFIGS["demo"][2]
    marked = []

    def compile_blocks(G, D):
        marked.append(compile_dense_blocks(G, "cpu", SpeedLevers(compiled_blocks=True)))
        assert all(b.compile_backend is None for b in G.modules() if isinstance(b, Block))

    assert_same_steps(one_step_each("demo", cfg), one_step_each("demo", cfg, prepare=compile_blocks), 0, 0)
    assert marked == [0, 0]


def test_compiled_blocks_equal_eager_blocks_and_only_compile_the_training_pass():
    graphs = []

    def counting_aot_eager(gm, example_inputs):  # the graphs inductor would get, run by aot_eager
        graphs.append(gm)
        return lookup_backend("aot_eager")(gm, example_inputs)

    cfg = CONFIGS["demo"][2]
    generators = []

    def compile_blocks(G, D):
        assert compile_dense_blocks(G, "cpu", SpeedLevers(compiled_blocks=True), backend=counting_aot_eager) == 6
        generators.append(G)

    compiled = one_step_each("demo", cfg, prepare=compile_blocks)
    # six blocks, each one graph (forward and backward); the D step's gradient-free pass of G ran eagerly
    assert len(graphs) == 6 and compiled_blocks.compiled_dense_block_forward(counting_aot_eager).failure is None
    # the BatchNorm running statistics, updated inside the compiled graphs, are among the tensors compared
    assert_same_steps(one_step_each("demo", cfg), compiled, rel=1e-6, tensor_rtol=1e-6)
    G = generators[0]
    G.eval()(torch.zeros(2, E))
    assert len(graphs) == 6  # evaluation passes run eagerly
    blocks = [b for b in copy.deepcopy(G).modules() if isinstance(b, Block)]
    assert len(blocks) == 6 and all(b.compile_backend is counting_aot_eager for b in blocks)  # a copy keeps it


def test_a_failing_compile_falls_back_to_eager_once_and_computes_the_same():
    attempts = []

    def broken_backend(gm, example_inputs):
        attempts.append(gm)
        raise RuntimeError("no compiler here")

    cfg = CONFIGS["paper"][2]
    with pytest.warns(RuntimeWarning, match="(?s)fall back to eager.*no compiler here"):
        fallen_back = one_step_each("paper", cfg, prepare=lambda G, D: compile_dense_blocks(G, "cpu", SpeedLevers(compiled_blocks=True), backend=broken_backend))
    assert len(attempts) == 1 and "no compiler here" in compiled_blocks.compiled_dense_block_forward(broken_backend).failure
    assert_same_steps(one_step_each("paper", cfg), fallen_back, 0, 0)
