"""Shapes, parameter counts and init of the S2I networks against the spec's tables."""

import math

import pytest
import torch
from torch import nn

from s2i_models.generator import NearestUpConv
from s2i_models import AudioAutoencoder, DenseGenerator, Discriminator, InformativityClassifier, SequentialGenerator, set_inference_dropout

EMB_DIMS = [128, 256, 512, 1024, 2048]


pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_bn(cin: int, cout: int, kh: int, kw: int | None = None) -> int:
    """Parameters of a bias-free (transposed) conv followed by BatchNorm (weight + shift)."""
    return cin * cout * kh * (kw or kh) + 2 * cout


# ---- expected parameter counts, restated from /work/shared/spec/paper.md ----


def expected_autoencoder(E: int) -> int:
    enc_out = [80, 176, 192, 224, 272, 304, 352, 416, 512, 512, 512, 512, E]
    enc_k = [(7, 5)] + [(5, 3)] * 4 + [(3, 3)] * 8
    total, cin = 0, 1
    for cout, (kh, kw) in zip(enc_out, enc_k):
        total += conv_bn(cin, cout, kh, kw)
        cin = cout
    # decoder: each layer mirrors an encoder layer; the spec fixes the last two kernels
    dec_out = enc_out[-2::-1] + [1]
    dec_k = [(3, 3)] * 8 + [(5, 3)] * 3 + [(5, 4), (8, 6)]
    for cout, (kh, kw) in zip(dec_out, dec_k):
        total += conv_bn(cin, cout, kh, kw)
        cin = cout
    return total


def expected_dense_generator(E: int, dense: bool = True) -> int:
    blocks = [(512, 512, 512), (512, 416, 352), (304, 256, 224), (192, 176, 160), (144, 128, 112), (96, 80, 64)]
    transitions = [(512, 2), (512, 3), (352, 3), (224, 4), (160, 4), (112, 4), (3, 4)]
    total = conv_bn(E, 512, 2)
    cin = 512
    for (c1, c2, c3), (tout, tk) in zip(blocks, transitions[1:]):
        total += conv_bn(cin, c1, 3) + conv_bn(c1, c2, 3)
        total += conv_bn(c1 + c2 if dense else c2, c3, 3)
        total += conv_bn(c1 + c2 + c3 if dense else c3, tout, tk)
        cin = tout
    return total


def expected_sequential13(E: int) -> int:
    outs = [512, 512, 512, 512, 416, 352, 304, 272, 224, 192, 176, 80, 3]
    kernels = [3, 3, 3, 3, 3, 2, 3, 3, 4, 3, 4, 3, 4]
    total, cin = 0, E
    for cout, k in zip(outs, kernels):
        total += conv_bn(cin, cout, k)
        cin = cout
    return total


def expected_discriminator(E: int) -> int:
    outs = [96, 192, 192, 208, 224, 240, 256, 256, 256, 256, 256, 256]
    total = conv_bn(3, 96, 5)
    for cin, cout in zip(outs, outs[1:]):
        total += conv_bn(cin, cout, 3)
    return total + conv_bn(256 + E // 4, 1, 2)


def expected_informativity() -> int:
    total = conv_bn(3, 12, 5) + conv_bn(12, 32, 3) + 3 * conv_bn(32, 32, 3)
    return total + (32 * 32 + 2 * 32) + (32 * 2 + 2)  # FC (bias-free, BN) and FC with bias


def on_meta(build):
    with torch.device("meta"):
        return build()


@pytest.mark.parametrize("E", EMB_DIMS)
def test_shapes_and_counts_at_paper_width(E):
    ae = on_meta(lambda: AudioAutoencoder(E))
    gens = {
        "dense": (on_meta(lambda: DenseGenerator(E)), expected_dense_generator(E)),
        "seq25": (on_meta(lambda: SequentialGenerator(E, depth=25)), expected_dense_generator(E, dense=False)),
        "seq13": (on_meta(lambda: SequentialGenerator(E, depth=13)), expected_sequential13(E)),
    }
    disc = on_meta(lambda: Discriminator(E))
    clf = on_meta(lambda: InformativityClassifier())

    mel = torch.empty(4, 1, 128, 100, device="meta")
    emb = ae.encode(mel)
    assert emb.shape == (4, E)
    assert ae(mel).shape == (4, 1, 128, 100)
    assert ae.decode(emb).shape == (4, 1, 128, 100)
    assert n_params(ae) == expected_autoencoder(E)
    for name, (gen, expected) in gens.items():
        assert gen(emb).shape == (4, 3, 96, 96), name
        assert gen(emb[:, :, None, None]).shape == (4, 3, 96, 96), name
        assert n_params(gen) == expected, name
    image = torch.empty(4, 3, 96, 96, device="meta")
    assert disc(image, emb).shape == (4,)
    assert n_params(disc) == expected_discriminator(E)
    assert clf(image).shape == (4, 2)
    assert n_params(clf) == expected_informativity()


def spatial_sizes(layers: nn.Sequential, x: torch.Tensor) -> list[tuple[int, int]]:
    sizes = []
    for layer in layers:
        x = layer(x)
        sizes.append(tuple(x.shape[-2:]))
    return sizes


def test_intermediate_sizes_follow_the_spec_tables():
    ae = on_meta(lambda: AudioAutoencoder(512))
    enc = spatial_sizes(ae.encoder, torch.empty(2, 1, 128, 100, device="meta"))
    assert enc == [(61, 48), (29, 23), (25, 21), (21, 19), (17, 17)] + [(s, s) for s in range(15, 0, -2)]
    dec = spatial_sizes(ae.decoder, torch.empty(2, 512, 1, 1, device="meta"))
    assert dec == enc[-2::-1] + [(128, 100)]

    gen = on_meta(lambda: DenseGenerator(512))
    sizes = [s[0] for s in spatial_sizes(gen.net, torch.empty(2, 512, 1, 1, device="meta"))]
    assert sizes == [2, 2, 4, 4, 6, 6, 12, 12, 24, 24, 48, 48, 96]

    disc = on_meta(lambda: Discriminator(512))
    sizes = [s[0] for s in spatial_sizes(disc.features, torch.empty(2, 3, 96, 96, device="meta"))]
    assert sizes == [46, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2]

    clf = on_meta(lambda: InformativityClassifier())
    sizes = [s[0] for s in spatial_sizes(clf.features, torch.empty(2, 3, 96, 96, device="meta"))]
    assert sizes == [46, 22, 10, 4, 1]


def test_dense_generator_512_is_about_155_megabytes():
    gen = on_meta(lambda: DenseGenerator(512))
    tensors = list(gen.state_dict().values())
    float_bytes = sum(t.numel() * 4 for t in tensors if t.is_floating_point())
    assert abs(float_bytes / 1e6 - 155) / 155 < 0.10


def test_layer_counts():
    convs = lambda m: sum(isinstance(x, (nn.Conv2d, nn.ConvTranspose2d)) for x in m.modules())
    assert convs(on_meta(lambda: AudioAutoencoder(512))) == 26
    assert convs(on_meta(lambda: DenseGenerator(512))) == 25
    assert convs(on_meta(lambda: SequentialGenerator(512, depth=25))) == 25
    assert convs(on_meta(lambda: SequentialGenerator(512, depth=13))) == 13
    assert convs(on_meta(lambda: Discriminator(512))) == 13


def test_width_scales_inner_channels_only():
    gen = on_meta(lambda: DenseGenerator(64, width=0.25))
    first = gen.net[0][0]
    assert (first.in_channels, first.out_channels) == (64, 128)
    assert gen.net[1].layer3[0].in_channels == 256  # cat(x1, x2) of 128 + 128
    assert gen.net[-1][0].out_channels == 3
    disc = on_meta(lambda: Discriminator(64, width=0.25))
    assert disc.score[0].in_channels == 64 + 64 // 4  # 256 * 0.25 + E/4
    tiny = on_meta(lambda: AudioAutoencoder(32, width=0.01))
    assert min(m.out_channels for m in tiny.modules() if isinstance(m, nn.Conv2d)) == 1
    assert n_params(on_meta(lambda: DenseGenerator(64, width=0.5))) < n_params(on_meta(lambda: DenseGenerator(64)))


def test_xavier_uniform_init():
    torch.manual_seed(0)
    gen = DenseGenerator(64, width=0.25)
    conv = gen.net[1].layer3[0]  # ConvTranspose2d: weight is in x out x k x k
    fan_in, fan_out = conv.out_channels * 9, conv.in_channels * 9  # torch's fans for a transposed weight
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert conv.weight.abs().max() <= bound
    assert conv.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    clf = InformativityClassifier()
    assert torch.count_nonzero(clf.head[-2].bias) == 0


def test_real_forward_batch_one_at_paper_width():
    torch.manual_seed(0)
    gen = DenseGenerator(512).eval()
    disc = Discriminator(512).eval()
    emb = torch.rand(1, 512) * 2 - 1
    with torch.no_grad():
        image = gen(emb)
        score = disc(image, emb)
    assert image.shape == (1, 3, 96, 96) and image.abs().max() <= 1
    assert score.shape == (1,) and score.abs().max() <= 1


def test_small_width_forward_and_ranges():
    torch.manual_seed(0)
    ae = AudioAutoencoder(64, width=0.125)
    mel = torch.rand(3, 1, 128, 100) * 2 - 1
    emb = ae.encode(mel)
    assert emb.shape == (3, 64) and emb.abs().max() <= 1
    assert ae(mel).abs().max() <= 1
    log_probs = InformativityClassifier(width=0.5).eval()(torch.rand(3, 3, 96, 96))
    assert torch.allclose(log_probs.exp().sum(1), torch.ones(3))


def test_test_time_dropout_is_stochastic_until_switched_off():
    torch.manual_seed(0)
    for gen in (DenseGenerator(32, width=0.125), SequentialGenerator(32, depth=13, width=0.125)):
        gen.eval()
        emb = torch.rand(2, 32) * 2 - 1
        with torch.no_grad():
            assert not torch.equal(gen(emb), gen(emb))
            set_inference_dropout(gen, False)
            assert torch.equal(gen(emb), gen(emb))
            gen.train()
            assert not torch.equal(gen(emb), gen(emb))  # training still drops


def test_autoencoder_dropout_only_in_training():
    torch.manual_seed(0)
    ae = AudioAutoencoder(32, width=0.125).eval()
    mel = torch.rand(2, 1, 128, 100)
    with torch.no_grad():
        assert torch.equal(ae(mel), ae(mel))
    rates = [m.p for m in ae.decoder.modules() if isinstance(m, nn.Dropout2d)]
    assert len(rates) == 12 and rates[0] == pytest.approx(0.15) and rates[-1] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_bad_inputs_raise_clear_errors():
    ae = on_meta(lambda: AudioAutoencoder(64, width=0.125))
    with pytest.raises(ValueError, match="128 x 100"):
        ae.encode(torch.empty(2, 1, 100, 128, device="meta"))
    gen = on_meta(lambda: DenseGenerator(64, width=0.125))
    with pytest.raises(ValueError, match="N x 64"):
        gen(torch.empty(2, 128, device="meta"))
    disc = on_meta(lambda: Discriminator(64, width=0.125))
    with pytest.raises(ValueError, match="embeddings"):
        disc(torch.empty(2, 3, 96, 96, device="meta"), torch.empty(2, 32, device="meta"))
    with pytest.raises(ValueError, match="divisible by 4"):
        Discriminator(30)
    with pytest.raises(ValueError, match="depth"):
        SequentialGenerator(64, depth=7)
    with pytest.raises(ValueError, match="width"):
        DenseGenerator(64, width=0)


def checkerboard_share(images: torch.Tensor) -> float:
    """Share of the images' energy (mean removed) in the 2x2 checkerboard pattern (-1)^(x+y)."""
    x = images - images.mean(dim=(2, 3), keepdim=True)
    sign = torch.ones(images.shape[-2:])
    sign[0::2, 1::2] = sign[1::2, 0::2] = -1
    return ((x * sign).mean(dim=(2, 3)) ** 2).sum().item() / (x**2).mean(dim=(2, 3)).sum().item()


def test_resize_upsampling_replaces_the_doubling_transposed_convs_and_paints_no_checkerboard():
    torch.manual_seed(0)
    emb = torch.randn(8, 64)
    paper, resize = DenseGenerator(64, 0.125, output_bn=False), DenseGenerator(64, 0.125, output_bn=False, upsample="resize")
    strided = [m for m in paper.modules() if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2)]
    assert len(strided) == 4 and not [m for m in resize.modules() if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2)]
    assert sum(isinstance(m, nn.Upsample) for m in resize.modules()) == 4
    with torch.no_grad():
        out_paper, out_resize = paper.eval()(emb), resize.eval()(emb)
    assert out_resize.shape == out_paper.shape == (8, 3, 96, 96)
    # untrained, the k4 s2 transposed convs already print the 2x2 pattern; nearest x2 + k3 conv does not
    assert checkerboard_share(out_paper) > 10 * checkerboard_share(out_resize), (checkerboard_share(out_paper), checkerboard_share(out_resize))
    with pytest.raises(ValueError, match="upsample must be one of"):
        DenseGenerator(64, 0.125, upsample="bilinear")


@pytest.mark.parametrize("bias", [False, True])
def test_resize_layer_computes_the_upsampled_conv_from_the_small_input(bias):
    """NearestUpConv's folded k2 convs give what nearest x2 then the k3 conv gives, values and gradients,
    and a checkpoint of the textbook Sequential(Upsample, Conv2d) loads into it."""
    torch.manual_seed(0)
    textbook = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(5, 4, 3, 1, 1, bias=bias)).double()
    layer = NearestUpConv(5, 4, bias).double()
    layer.load_state_dict(textbook.state_dict())
    x = torch.randn(3, 5, 6, 7, dtype=torch.double, requires_grad=True)
    want, got = textbook(x), layer(x)
    assert got.shape == want.shape == (3, 4, 12, 14)
    assert torch.allclose(got, want, atol=1e-12)
    weights = lambda m: [x] + list(m.parameters())  # noqa: E731
    for g_got, g_want in zip(torch.autograd.grad(got.square().sum(), weights(layer)), torch.autograd.grad(want.square().sum(), weights(textbook))):
        assert torch.allclose(g_got, g_want, atol=1e-10)
