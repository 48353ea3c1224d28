"""Real-time factor of `s2i translate`: processing time / audio duration (goal: under 0.1).

    python benchmarks/bench_translate.py [--seconds 60] [--samples 1] [--widths demo,1.0] [--device cpu]

For each width it saves random-weight models (the speed does not depend on the
weights) in the `models/` layout, then times `translate_file` on a 60-s stereo
44.1-kHz MP3: decoding, log-Mel, encoder, generator, PNG writing, contact sheet
and the sidecar. Model loading is timed apart (it happens once per command).
"demo" means the widths and emb_dim of params.yaml; "1.0" the paper's network.
Prints one "name: value" line per figure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.commands import translate  # noqa: E402
from pipeline.core.params import load_params  # noqa: E402
from pipeline.media.decode import ffmpeg_exe  # noqa: E402
from s2i_models import AudioAutoencoder, pick_device, save_checkpoint  # noqa: E402
from s2i_models.rebuild import build_generator  # noqa: E402


def save_random_model(root: Path, emb_dim: int, ae_width: float, g_width: float, kind: str) -> Path:
    torch.manual_seed(0)
    save_checkpoint(
        root / "autoencoder" / "best.pt",
        models={"autoencoder": AudioAutoencoder(emb_dim, ae_width)},
        emb_dim=emb_dim,
        width=ae_width,
        epoch=0,
        with_rng=False,
        extra={"mel_scale": {"centre": -4.0, "half_range": 10.0}},
    )
    save_checkpoint(
        root / "translator" / "generator.pt",
        models={"generator": build_generator(kind, emb_dim, g_width)},
        emb_dim=emb_dim,
        width=g_width,
        epoch=0,
        with_rng=False,
        extra={"generator": kind},
    )
    return root


def make_sound(path: Path, seconds: float) -> Path:
    sound = f"sine=frequency=330:sample_rate=44100:duration={seconds}[a];anoisesrc=sample_rate=44100:duration={seconds}:amplitude=0.2:seed=3[b];[a][b]amix=inputs=2"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-filter_complex", sound, "-ac", "2", "-c:a", "libmp3lame", str(path)], check=True)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--widths", default="demo,1.0", help="comma list: demo (params.yaml) and/or numbers")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per width (the best is reported)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    params = load_params()
    print(f"device: {device} threads={torch.get_num_threads()}")
    print(f"config: {args.seconds:g}-s stereo 44.1 kHz mp3, samples={args.samples}, hop 1 s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sound = make_sound(tmp / "bench.mp3", args.seconds)
        warmup = make_sound(tmp / "warmup.mp3", 2.0)
        for width in args.widths.split(","):
            if width == "demo":
                emb_dim, ae_w, g_w = params["emb_dim"], params["autoencoder"]["width"], params["translator"]["width"]
                kind = params["translator"]["generator"]
            else:
                emb_dim, ae_w, g_w, kind = params["emb_dim"], float(width), float(width), "dense"
            tag = f"width_{width}"
            model_dir = save_random_model(tmp / tag, emb_dim, ae_w, g_w, kind)
            start = time.perf_counter()
            model = translate.load_model(model_dir, device)
            load_s = time.perf_counter() - start
            translate.translate_file(warmup, tmp / "out", "warmup", model, args.samples)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                meta = translate.translate_file(sound, tmp / "out", "bench", model, args.samples)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - start)
            seconds = min(times)
            duration = meta["audio"]["duration_s"]
            print(f"{tag}_models: emb_dim={emb_dim} autoencoder={ae_w} generator={kind}@{g_w}")
            print(f"{tag}_model_load_s: {load_s:.3g}")
            print(f"{tag}_windows: {len(meta['windows'])}")
            print(f"{tag}_processing_s: {seconds:.3g}")
            print(f"{tag}_real_time_factor: {seconds / duration:.4g}")


if __name__ == "__main__":
    main()
