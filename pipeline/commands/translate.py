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
from dataclasses import dataclass
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
from pipeline.translation.sounds import MEL, SPREAD_TOP, WINDOW_S, Model, TranslateError, clip_log_mel, draw_samples, load_model, load_sound, window_starts

IMAGES_PER_BATCH = 64  # generator batch; windows per batch = IMAGES_PER_BATCH // samples
PROGRESS_MIN_WINDOWS = 30  # show a progress bar from this many windows on
SHEET_MAX_WINDOWS = 240  # longer inputs show evenly spaced windows on the sheet
SHEET_MAX_SAMPLES = 8  # the sheet shows at most this many samples per window (all are saved)
SILENCE_PEAK = 1.0 / 32768  # below one 16-bit step: digital silence
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
        raise TranslateError(final, f"exists and is not an earlier translation (no {SIDECAR}); move it away or choose another --out")


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


@dataclass
class WindowPlan:
    """The windows of one input: where they start, how their files are named, which ones the sheet shows."""

    starts: list[float]
    on_sheet: set[int]
    digits: int  # of the window number in file names

    @classmethod
    def for_audio(cls, n_samples: int, hop_s: float) -> WindowPlan:
        starts = window_starts(n_samples, hop_s)
        spaced = np.linspace(0, len(starts) - 1, min(len(starts), SHEET_MAX_WINDOWS)).round().astype(int)
        return cls(starts, set(np.unique(spaced).tolist()), max(4, len(str(len(starts) - 1))))

    def stem(self, index: int) -> str:
        return f"window_{index:0{self.digits}d}"


@dataclass
class Job:
    """What every step of one input's translation uses."""

    model: Model
    stream: RandomStream  # the dropout draws of this input; the caller's RNG is left alone
    samples: int  # images per window
    folder: Path  # the hidden temp folder being filled


@dataclass
class Batch:
    """Windows that go through the encoder together."""

    first: int  # the index of its first window
    starts: list[float]
    stems: list[str]
    mels: np.ndarray  # the windows' log-mel segments


@dataclass
class BatchSamples:
    """The images drawn for a batch's windows."""

    files: dict[str, list[str]]  # per stem, its sample PNGs
    shown: dict[str, list[np.ndarray]]  # per stem, the samples the sheet shows
    spreads: np.ndarray | None  # per window, when there is more than one sample


def _warn_on_stderr(message: str) -> None:
    print(f"s2i translate: warning: {message}", file=sys.stderr)


def _is_silent(audio: np.ndarray) -> bool:
    return bool(np.max(np.abs(audio), initial=0.0) < SILENCE_PEAK)


def _load_sound(path: Path, pad: bool, warn) -> tuple[np.ndarray, dict]:
    """load_sound, with a warning when less decodes than the header promises."""
    audio, sound_info = load_sound(path, pad)
    if sound_info["truncated"]:
        warn(
            f"{path}: only {sound_info['duration_s']:.2f} s of sound decode, the header says "
            f"{sound_info['header_duration_s']:.2f} s (truncated or damaged file?); translating what decodes"
        )
    return audio, sound_info


def _warn_if_silent(path: Path, audio: np.ndarray, warn) -> bool:
    silent = _is_silent(audio)
    if silent:
        warn(f"{path}: digital silence (no sample reaches one 16-bit step); the images show what the model makes of silence")
    return silent


def _embed_batch(job: Job, plan: WindowPlan, spectrogram: np.ndarray, first: int, size: int) -> tuple[Batch, np.ndarray]:
    """The batch of (at most) `size` windows from window `first` on, and their embeddings."""
    starts = plan.starts[first : first + size]
    mels = np.stack([segment_slice(spectrogram, s, MEL) for s in starts])
    with job.stream:
        emb = embed_mels(job.model.encoder, job.model.scale, mels, batch_size=size)
    return Batch(first, starts, [plan.stem(first + i) for i in range(len(starts))], mels), emb


def _draw_batch(job: Job, batch: Batch, emb: np.ndarray) -> BatchSamples:
    """Draw and save job.samples images of each window of the batch, at most IMAGES_PER_BATCH per generator call."""
    drawn = BatchSamples({stem: [] for stem in batch.stems}, {stem: [] for stem in batch.stems}, None)
    meter = SpreadMeter()
    per_call = max(1, IMAGES_PER_BATCH // len(batch.starts))  # samples per generator call
    for j0 in range(0, job.samples, per_call):
        with job.stream:
            images = draw_samples(job.model, emb, min(per_call, job.samples - j0))
        meter.add(images)
        _save_samples(job.folder, batch, images, j0, drawn)
    drawn.spreads = meter.spread() if job.samples > 1 else None
    return drawn


def _save_samples(folder: Path, batch: Batch, images: torch.Tensor, j0: int, drawn: BatchSamples) -> None:
    """Save samples j0 + 1, j0 + 2, ... of each window (images: B x k x 3 x H x W) and note them in `drawn`."""
    pixels = tensor_to_image(images.flatten(0, 1)).reshape(*images.shape[:2], *images.shape[3:], 3)
    for stem, window_pixels in zip(batch.stems, pixels):
        for j, image in enumerate(window_pixels, start=j0 + 1):
            file = f"{stem}_sample_{j:02d}.png"
            Image.fromarray(image).save(folder / file)
            drawn.files[stem].append(file)
        drawn.shown[stem].extend(window_pixels[: SHEET_MAX_SAMPLES - len(drawn.shown[stem])])


def _window_entries(job: Job, plan: WindowPlan, audio: np.ndarray, batch: Batch, drawn: BatchSamples) -> tuple[list[dict], list[SheetColumn]]:
    """The sidecar entries of the batch's windows (saving their spread maps) and the sheet columns of those it shows."""
    window_len = int(round(WINDOW_S * MEL.sample_rate))
    entries, columns = [], []
    for i, (start, stem) in enumerate(zip(batch.starts, batch.stems)):
        index = batch.first + i
        first = int(round(start * MEL.sample_rate))
        entry, spread_rgb = {"images": drawn.files[stem]}, None
        if drawn.spreads is not None:
            spread_entry, spread_rgb = write_spread(job.folder, stem, drawn.spreads[i])
            entry.update(spread_entry)
        entries.append({"index": index, "start_s": start, "end_s": round(start + WINDOW_S, 4), "silent": _is_silent(audio[first : first + window_len]), **entry})
        if index in plan.on_sheet:
            strip = spectrogram_tile(job.model.scale.apply(batch.mels[i]))
            columns.append(SheetColumn(f"{start:.1f}-{start + WINDOW_S:.1f} s", strip, drawn.shown[stem], spread_rgb))
    return entries, columns


def _translate_windows(job: Job, plan: WindowPlan, audio: np.ndarray, spectrogram: np.ndarray, name: str) -> tuple[list[dict], list[SheetColumn]]:
    """Embed, draw and save every window, a batch at a time; return the sidecar's window entries and the sheet's columns."""
    windows, sheet_columns = [], []
    per_batch = max(1, IMAGES_PER_BATCH // job.samples)
    with tqdm(total=len(plan.starts), desc=f"translate {name}", unit="window", leave=False, disable=len(plan.starts) < PROGRESS_MIN_WINDOWS) as bar:
        for first in range(0, len(plan.starts), per_batch):
            batch, emb = _embed_batch(job, plan, spectrogram, first, per_batch)
            entries, columns = _window_entries(job, plan, audio, batch, _draw_batch(job, batch, emb))
            windows += entries
            sheet_columns += columns
            bar.update(len(batch.starts))
    return windows, sheet_columns


def _sheet_title(path: Path, n_windows: int, n_shown: int, hop_s: float, samples: int) -> str:
    shown = "" if n_shown == n_windows else f", {n_shown} shown"
    first_samples = "" if samples <= SHEET_MAX_SAMPLES else f" (first {SHEET_MAX_SAMPLES} shown)"
    return (
        f"{path.name}: {n_windows} windows of {WINDOW_S:g} s every {hop_s:g} s{shown}, "
        f"{samples} sample(s) each{first_samples}; spread = per-pixel std across samples "
        f"(top of scale {SPREAD_TOP})"
    )


def _params(model: Model, samples: int, hop_s: float, pad: bool, seed: int) -> dict:
    """The sidecar's record of how the images were made."""
    return {
        "samples": samples,
        "hop_s": hop_s,
        "window_s": WINDOW_S,
        "pad": pad,
        "seed": seed,
        "device": str(model.device),
        "sample_rate": MEL.sample_rate,
        "n_mels": MEL.n_mels,
        "spread_top": SPREAD_TOP,
        "mel_scale": {"centre": model.scale.centre, "half_range": model.scale.half_range},
    }


def translate_file(path: Path, out_root: Path, name: str, model: Model, samples: int = 1, hop_s: float = 1.0, pad: bool = False, seed: int = 0, warn=None) -> dict:
    """Translate one input into out_root/name/; return its sidecar dict.

    The files go to a hidden temp folder, renamed to out_root/name when complete and removed on any error."""
    warn = warn or _warn_on_stderr
    check_replaceable(out_root / name)
    audio, sound_info = _load_sound(path, pad, warn)
    plan = WindowPlan.for_audio(len(audio), hop_s)
    silent_input = _warn_if_silent(path, audio, warn)
    spectrogram = clip_log_mel(audio)
    stream = RandomStream(seed, model.device)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = _scratch(out_root, name, ".tmp")
    try:
        windows, sheet_columns = _translate_windows(Job(model, stream, samples, tmp), plan, audio, spectrogram, name)
        title = _sheet_title(path, len(plan.starts), len(sheet_columns), hop_s, samples)
        draw_contact_sheet(sheet_columns, title).save(tmp / SHEET, compress_level=3)
        sidecar = {
            "input": str(path),
            "name": name,
            "model": model.info,
            "params": _params(model, samples, hop_s, pad, seed),
            "audio": {**sound_info, "silent": silent_input},
            "contact_sheet": SHEET,
            "sheet_windows": sorted(plan.on_sheet),
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
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, at least one frame ({1.0 / MEL.frames_per_second:g} s), got {text}")
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
    parser = argparse.ArgumentParser(prog="s2i translate", description="Turn sound or video files into images with a trained S2I model (one column of images per 1-s window).")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help="audio or video files")
    parser.add_argument("--model", type=Path, metavar="DIR", default=paths.MODELS, help="folder with autoencoder/best.pt and translator/generator.pt (default: models)")
    parser.add_argument(
        "--samples",
        type=positive_int,
        metavar="N",
        default=1,
        help="images per window, drawn with the generator's dropout (default 1); above 1 a spread map per window is written too",
    )
    parser.add_argument("--hop", type=_hop, metavar="SECONDS", default=1.0, help="seconds between window starts (default 1.0)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=Path("translations"), help="output folder (default translations)")
    parser.add_argument("--pad", action="store_true", help="zero-pad sounds shorter than one window")
    parser.add_argument("--device", default=None, metavar="DEVICE", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--seed", type=_seed, metavar="S", default=0, help="seed of the dropout sampling (default 0)")
    parser.add_argument("--emb-dim", type=positive_int, metavar="E", default=None, help="check that the model has this embedding size")
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
