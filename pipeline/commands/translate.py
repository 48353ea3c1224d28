"""`s2i translate`: sound or video files -> images, with a trained encoder and generator.

    s2i translate INPUT... [--model DIR] [--samples N] [--hop SECONDS] [--out DIR]
                           [--pad] [--device cpu|cuda] [--seed S] [--emb-dim E]

Every 1-s window of each input (one every --hop seconds) is encoded and drawn
N times through the generator, whose dropout stays on at inference (the
paper's stochastic outputs). Per input, OUT/NAME/ receives the per-window PNGs,
with N > 1 a spread map per window (per-pixel standard deviation across the
samples), contact_sheet.png and translation.json. The folder is written under
a temporary name and renamed when complete, so an input that fails leaves
nothing behind; an existing OUT/NAME is replaced only when it is an earlier
translation (it holds translation.json). Exit status: 0 when every input worked,
1 when one failed (the others still run), 2 for bad arguments or an unusable
model, 130 / 143 when interrupted (Ctrl-C / SIGTERM).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from s2i_models import pick_device
from s2i_models.rng import RandomStream

from pipeline.core import paths
from pipeline.core.tables import check_id, new_scratch
from pipeline.dataset.embeddings import embed_mels
from pipeline.dataset.loader import tensor_to_image
from pipeline.media.decode import MediaError
from pipeline.media.features import segment_slice
from pipeline.translation.contact_sheet import SheetColumn, draw_contact_sheet, heat_map, spectrogram_tile
from pipeline.translation.sounds import (MEL, SPREAD_TOP, WINDOW_S, Model, TranslateError, clip_log_mel, draw_samples,
                                         load_model, load_sound, window_starts)

IMAGES_PER_BATCH = 64          # generator batch; windows per batch = IMAGES_PER_BATCH // samples
PROGRESS_MIN_WINDOWS = 30      # show a progress bar from this many windows on
SHEET_MAX_WINDOWS = 240        # longer inputs show evenly spaced windows on the sheet
SHEET_MAX_SAMPLES = 8          # the sheet shows at most this many samples per window (all are saved)
SILENCE_PEAK = 1.0 / 32768     # below one 16-bit step: digital silence
MAX_SEED = 2**63 - 1
SIDECAR, SHEET = "translation.json", "contact_sheet.png"


class Interrupted(BaseException):
    """SIGTERM arrived (a BaseException like KeyboardInterrupt, so per-input handlers let it through)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def safe_name(path: Path, taken: set[str]) -> str:
    """A file-name-safe output folder name from the input's stem, unique among `taken`."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)[:100].strip("_").lstrip("-_") or "input"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(check_id(name, "output name"))
    return name


def is_translation(folder: Path) -> bool:
    """An earlier result of ours: a real folder holding translation.json."""
    return folder.is_dir() and not folder.is_symlink() and (folder / SIDECAR).is_file()


def check_replaceable(final: Path) -> None:
    """Only an earlier translation may be replaced; anything else at OUT/NAME stays untouched."""
    if (final.exists() or final.is_symlink()) and not is_translation(final):
        raise TranslateError(final, f"exists and is not an earlier translation (no {SIDECAR}); "
                                    "move it away or choose another --out")


def _scratch(out_root: Path, name: str, suffix: str) -> Path:
    """A hidden work folder whose name carries our pid, so a later run can tell when it is stale."""
    return new_scratch(out_root, f".{name}.{os.getpid()}.", suffix, folder=True)  # the usual mode, by the umask


_SCRATCH = re.compile(r"^\.[A-Za-z0-9_-]+\.(\d+)\.[A-Za-z0-9_]+\.(tmp|old)$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out_root: Path) -> list[str]:
    """Delete work folders left by runs that were killed (their pid is gone); return their names."""
    removed = []
    for entry in sorted(out_root.iterdir()) if out_root.is_dir() else []:
        match = _SCRATCH.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _publish(tmp: Path, final: Path) -> None:
    """Move the finished temp folder to `final`, replacing an earlier result of the same name.

    Ctrl-C and SIGTERM wait until both renames are done (an interruption between them would
    leave the earlier result only in the hidden folder that the next run deletes)."""
    signals = {signal.SIGINT, signal.SIGTERM}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        _replace(tmp, final)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _replace(tmp: Path, final: Path) -> None:
    check_replaceable(final)
    if final.exists() or final.is_symlink():
        old = _scratch(final.parent, final.name, ".old")
        os.replace(final, old / final.name)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)


class SpreadMeter:
    """Per-pixel standard deviation across samples that arrive in chunks (sum and sum of squares)."""

    def __init__(self):
        self.n, self.total, self.squares = 0, None, None

    def add(self, images: torch.Tensor) -> None:
        """images: B x k x 3 x H x W, k more samples of each of B windows."""
        x = images.double()
        total, squares = x.sum(dim=1), x.square().sum(dim=1)
        self.total = total if self.total is None else self.total + total
        self.squares = squares if self.squares is None else self.squares + squares
        self.n += images.shape[1]

    def spread(self) -> np.ndarray:
        """B x H x W: the std across samples, averaged over the colour channels."""
        mean = self.total / self.n
        var = (self.squares / self.n - mean.square()).clamp_min(0)
        return var.sqrt().mean(dim=1).float().cpu().numpy()


def write_spread(folder: Path, stem: str, spread: np.ndarray) -> tuple[dict, np.ndarray]:
    """Save one window's spread heat map; return its file entries and the heat map."""
    spread_rgb = heat_map(spread / SPREAD_TOP)
    entry = {"spread": f"{stem}_spread.png", "spread_mean": round(float(spread.mean()), 5)}
    Image.fromarray(spread_rgb).save(folder / entry["spread"])
    return entry, spread_rgb


def translate_file(path: Path, out_root: Path, name: str, model: Model, samples: int = 1, hop_s: float = 1.0,
                   pad: bool = False, seed: int = 0, warn=None) -> dict:
    """Translate one input into out_root/name/; return its sidecar dict."""
    warn = warn or (lambda message: print(f"s2i translate: warning: {message}", file=sys.stderr))
    check_replaceable(out_root / name)
    audio, sound_info = load_sound(path, pad)
    if sound_info["truncated"]:
        warn(f"{path}: only {sound_info['duration_s']:.2f} s of sound decode, the header says "
             f"{sound_info['header_duration_s']:.2f} s (truncated or damaged file?); translating what decodes")
    starts = window_starts(len(audio), hop_s)
    silent_input = float(np.max(np.abs(audio), initial=0.0)) < SILENCE_PEAK
    if silent_input:
        warn(f"{path}: digital silence (no sample reaches one 16-bit step); the images show what the model makes of silence")
    spectrogram = clip_log_mel(audio)
    window_len = int(round(WINDOW_S * MEL.sample_rate))
    digits = max(4, len(str(len(starts) - 1)))
    on_sheet = set(np.unique(np.linspace(0, len(starts) - 1, min(len(starts), SHEET_MAX_WINDOWS)).round().astype(int)).tolist())
    stream = RandomStream(seed, model.device)   # the dropout draws of this file; the caller's RNG is left alone
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = _scratch(out_root, name, ".tmp")
    try:
        windows, sheet_columns = [], []
        per_batch = max(1, IMAGES_PER_BATCH // samples)
        with tqdm(total=len(starts), desc=f"translate {name}", unit="window", leave=False,
                  disable=len(starts) < PROGRESS_MIN_WINDOWS) as bar:
            for b0 in range(0, len(starts), per_batch):
                batch_starts = starts[b0:b0 + per_batch]
                mels = np.stack([segment_slice(spectrogram, s, MEL) for s in batch_starts])
                with stream:
                    emb = embed_mels(model.encoder, model.scale, mels, batch_size=per_batch)
                stems = [f"window_{b0 + i:0{digits}d}" for i in range(len(batch_starts))]
                images = {stem: [] for stem in stems}
                shown = {stem: [] for stem in stems}
                meter = SpreadMeter()
                per_call = max(1, IMAGES_PER_BATCH // len(batch_starts))  # samples per generator call
                for j0 in range(0, samples, per_call):
                    with stream:
                        drawn = draw_samples(model, emb, min(per_call, samples - j0))
                    meter.add(drawn)
                    pixels = tensor_to_image(drawn.flatten(0, 1)).reshape(*drawn.shape[:2], *drawn.shape[3:], 3)
                    for stem, window_pixels in zip(stems, pixels):
                        for j, image in enumerate(window_pixels, start=j0 + 1):
                            file = f"{stem}_sample_{j:02d}.png"
                            Image.fromarray(image).save(tmp / file)
                            images[stem].append(file)
                        shown[stem].extend(window_pixels[:SHEET_MAX_SAMPLES - len(shown[stem])])
                spreads = meter.spread() if samples > 1 else None
                for i, (start, stem) in enumerate(zip(batch_starts, stems)):
                    index = b0 + i
                    first = int(round(start * MEL.sample_rate))
                    silent = bool(np.max(np.abs(audio[first:first + window_len]), initial=0.0) < SILENCE_PEAK)
                    entry, spread_rgb = {"images": images[stem]}, None
                    if spreads is not None:
                        spread_entry, spread_rgb = write_spread(tmp, stem, spreads[i])
                        entry.update(spread_entry)
                    windows.append({"index": index, "start_s": start, "end_s": round(start + WINDOW_S, 4),
                                    "silent": silent, **entry})
                    if index in on_sheet:
                        sheet_columns.append(SheetColumn(f"{start:.1f}-{start + WINDOW_S:.1f} s",
                                                         spectrogram_tile(model.scale.apply(mels[i])),
                                                         shown[stem], spread_rgb))
                bar.update(len(batch_starts))
        shown = "" if len(sheet_columns) == len(starts) else f", {len(sheet_columns)} shown"
        first_samples = "" if samples <= SHEET_MAX_SAMPLES else f" (first {SHEET_MAX_SAMPLES} shown)"
        title = (f"{path.name}: {len(starts)} windows of {WINDOW_S:g} s every {hop_s:g} s{shown}, "
                 f"{samples} sample(s) each{first_samples}; spread = per-pixel std across samples "
                 f"(top of scale {SPREAD_TOP})")
        draw_contact_sheet(sheet_columns, title).save(tmp / SHEET, compress_level=3)
        sidecar = {
            "input": str(path),
            "name": name,
            "model": model.info,
            "params": {"samples": samples, "hop_s": hop_s, "window_s": WINDOW_S, "pad": pad, "seed": seed,
                       "device": str(model.device), "sample_rate": MEL.sample_rate, "n_mels": MEL.n_mels,
                       "spread_top": SPREAD_TOP, "mel_scale": {"centre": model.scale.centre,
                                                               "half_range": model.scale.half_range}},
            "audio": {**sound_info, "silent": silent_input},
            "contact_sheet": SHEET,
            "sheet_windows": sorted(on_sheet),
            "windows": windows,
        }
        (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n")
        _publish(tmp, out_root / name)
        return sidecar
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _hop(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or not value >= 1.0 / MEL.frames_per_second:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, at least one frame "
                                         f"({1.0 / MEL.frames_per_second:g} s), got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, got {text}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, got {text}")
    return value


def check_out(out: Path) -> None:
    """--out must be a folder we can write in, or a path we can create (checked before the model loads)."""
    if out.exists() and not out.is_dir():
        raise TranslateError(out, "--out is not a folder")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise TranslateError(out, f"--out cannot be created: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TranslateError(out, f"--out is not writable ({existing} is read-only)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2i translate", description="Turn sound or video files into images "
                                     "with a trained S2I model (one column of images per 1-s window).")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help="audio or video files")
    parser.add_argument("--model", type=Path, metavar="DIR", default=paths.MODELS,
                        help="folder with autoencoder/best.pt and translator/generator.pt (default: models)")
    parser.add_argument("--samples", type=positive_int, metavar="N", default=1,
                        help="images per window, drawn with the generator's dropout (default 1); "
                             "above 1 a spread map per window is written too")
    parser.add_argument("--hop", type=_hop, metavar="SECONDS", default=1.0, help="seconds between window starts (default 1.0)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=Path("translations"), help="output folder (default translations)")
    parser.add_argument("--pad", action="store_true", help="zero-pad sounds shorter than one window")
    parser.add_argument("--device", default=None, metavar="DEVICE", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--seed", type=_seed, metavar="S", default=0, help="seed of the dropout sampling (default 0)")
    parser.add_argument("--emb-dim", type=positive_int, metavar="E", default=None,
                        help="check that the model has this embedding size")
    return parser


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help or a usage error, already printed by argparse
        return int(done.code or 0)
    try:
        check_out(args.out)
        device = pick_device(args.device)
        model = load_model(args.model, device, args.emb_dim)
    except (TranslateError, RuntimeError, ValueError) as err:
        print(f"s2i translate: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("s2i translate: interrupted", file=sys.stderr)
        return 130
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return translate_all(args, model)
    except KeyboardInterrupt:
        print("s2i translate: interrupted; unfinished results removed", file=sys.stderr)
        return 130
    except Interrupted as stop:
        print(f"s2i translate: stopped by {stop}; unfinished results removed", file=sys.stderr)
        return 128 + stop.signum
    finally:
        signal.signal(signal.SIGTERM, previous)


def translate_all(args: argparse.Namespace, model: Model) -> int:
    remove_stale(args.out)
    failed, taken = 0, set()
    for path in args.inputs:
        name = safe_name(path, taken)
        try:
            sidecar = translate_file(path, args.out, name, model, args.samples, args.hop, args.pad, args.seed)
        except (TranslateError, MediaError) as err:
            print(f"s2i translate: {err}", file=sys.stderr)
            failed += 1
        except Exception as err:  # keep going with the other inputs; still one line
            message = str(err).splitlines()[0] if str(err) else ""
            print(f"s2i translate: {path}: {type(err).__name__}: {message}", file=sys.stderr)
            failed += 1
        else:
            n_images = sum(len(w["images"]) for w in sidecar["windows"])
            print(f"{path} -> {args.out / name}/ ({len(sidecar['windows'])} windows, {n_images} images)")
    if failed:
        print(f"s2i translate: {failed} of {len(args.inputs)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
