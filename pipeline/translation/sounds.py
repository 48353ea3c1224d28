"""Sound files and windows for translation: a trained encoder + generator pair loaded from a model
folder, media decoded to 16-kHz windows and their log-Mels, and images drawn for embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from s2i_models import AudioAutoencoder, CheckpointError, load_checkpoint
from s2i_models.rebuild import GENERATORS, restored_encoder, restored_generator

from pipeline.dataset.loader import MelScale
from pipeline.media.decode import MediaError, decode_audio, probe
from pipeline.media.features import MelConfig, log_mel

WINDOW_S = 1.0
SPREAD_TOP = 0.5  # a per-pixel std of 0.5 (pixels in [-1, 1]) is the top of the heat map
END_TOLERANCE_S = 0.01  # a last window may overhang the audio by one frame (codec padding)
TRUNCATED_S = 0.5  # decoded sound this much (or 5%) shorter than the header says: warn
MEL = MelConfig()


class TranslateError(Exception):
    """One input or the model cannot be used; the message is one line naming the file."""

    def __init__(self, path, message: str):
        super().__init__(f"{path}: {message}")


@dataclass
class Model:
    encoder: AudioAutoencoder
    scale: MelScale
    generator: torch.nn.Module
    device: torch.device
    info: dict  # what the sidecar records about the checkpoints


def _checkpoint(path: Path) -> dict:
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        raise TranslateError(path, str(err).removeprefix(f"{path}: ")) from err


def _restored(ckpt: dict, path: Path, rebuild) -> torch.nn.Module:
    """rebuild(ckpt): the network with its weights; a checkpoint that does not fit is a TranslateError."""
    try:
        return rebuild(ckpt)
    except CheckpointError as err:
        raise TranslateError(path, str(err)) from err
    except RuntimeError as err:  # load_state_dict: weights of another shape than the metadata says
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "size mismatch" in ln or "key" in ln.lower()), lines[0])
        raise TranslateError(path, f"weights do not fit the emb_dim {ckpt['emb_dim']} and width {ckpt['width']} the checkpoint says ({detail})") from err


def load_model(model_dir: str | Path, device: torch.device, emb_dim: int | None = None) -> Model:
    """DIR/autoencoder/best.pt + DIR/translator/generator.pt, checked to share one emb_dim."""
    enc_path = Path(model_dir) / "autoencoder" / "best.pt"
    gen_path = Path(model_dir) / "translator" / "generator.pt"
    enc, gen = _checkpoint(enc_path), _checkpoint(gen_path)
    if emb_dim is not None and enc["emb_dim"] != emb_dim:
        raise TranslateError(enc_path, f"encoder was trained with emb_dim {enc['emb_dim']}, but --emb-dim {emb_dim} was given")
    if gen["emb_dim"] != enc["emb_dim"]:
        raise TranslateError(
            gen_path, f"generator was trained with emb_dim {gen['emb_dim']}, but the encoder {enc_path} gives emb_dim {enc['emb_dim']}: they come from different models"
        )
    if "mel_scale" not in enc["extra"]:
        raise TranslateError(enc_path, "checkpoint lacks extra.mel_scale (not an autoencoder checkpoint?)")
    kind = gen["extra"].get("generator")
    if kind not in GENERATORS:
        raise TranslateError(gen_path, f"checkpoint names generator {kind!r}; expected one of {sorted(GENERATORS)}")
    encoder = _restored(enc, enc_path, restored_encoder)
    generator = _restored(gen, gen_path, restored_generator)
    info = {
        "encoder": {"path": str(enc_path), "emb_dim": enc["emb_dim"], "width": enc["width"], "epoch": enc["epoch"]},
        "generator": {"path": str(gen_path), "kind": kind, "emb_dim": gen["emb_dim"], "width": gen["width"], "epoch": gen["epoch"]},
    }
    # channels_last lets oneDNN pick faster CPU kernels (about 2x for the generator's transposed convs)
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    encoder, generator = (m.to(device, memory_format=layout).eval() for m in (encoder, generator))
    return Model(encoder, MelScale(**enc["extra"]["mel_scale"]), generator, device, info)


def load_sound(path: Path, pad: bool) -> tuple[np.ndarray, dict]:
    """Mono 16 kHz audio of any media file, zero-padded to one window when `pad` and shorter."""
    if path.is_dir():
        raise TranslateError(path, "is a directory, not a media file")
    facts = probe(path)
    if facts["audio_streams"] == 0:
        raise MediaError(path, "no_audio", "no audio stream")
    audio = decode_audio(path, MEL.sample_rate)
    window = int(round(WINDOW_S * MEL.sample_rate))
    duration = len(audio) / MEL.sample_rate
    padded = False
    if len(audio) < window - END_TOLERANCE_S * MEL.sample_rate:
        if not pad:
            raise TranslateError(path, f"sound is {duration:.2f} s, shorter than one {WINDOW_S:g}-s window (use --pad to zero-pad it)")
        audio, padded = np.pad(audio, (0, window - len(audio))), True
    header = facts["duration"]
    truncated = bool(math.isfinite(header) and duration < header - max(TRUNCATED_S, 0.05 * header))
    info = {
        "duration_s": round(duration, 4),
        "padded_to_s": WINDOW_S if padded else None,
        "header_duration_s": round(header, 4) if math.isfinite(header) else None,
        "truncated": truncated,
        "source_sample_rate": facts["sample_rate"],
        "source_channels": facts["channels"],
    }
    return audio, info


def window_starts(n_samples: int, hop_s: float) -> list[float]:
    """Start times (s, on the 10-ms frame grid) of the full windows in n_samples of audio."""
    duration = n_samples / MEL.sample_rate
    if duration + END_TOLERANCE_S < WINDOW_S:
        return []
    count = int(np.floor((duration + END_TOLERANCE_S - WINDOW_S) / hop_s + 1e-9)) + 1
    fps = MEL.frames_per_second
    return [round(k * hop_s * fps) / fps for k in range(count)]


def clip_log_mel(audio: np.ndarray, chunk_frames: int = 30000) -> np.ndarray:
    """`log_mel` of the whole clip, computed in chunks so hours of audio stay within memory.

    Chunk frame k is centred on chunk sample k * hop; the first and last `margin`
    frames of a chunk see its edge, so chunks overlap by that much and keep only
    frames whose analysis window lies wholly inside (equal to the one-shot values).
    """
    n_frames = 1 + len(audio) // MEL.hop
    if n_frames <= chunk_frames:
        return log_mel(audio, MEL)
    margin = -(-(MEL.n_fft // 2) // MEL.hop)
    parts = []
    for f0 in range(0, n_frames, chunk_frames):
        f1 = min(f0 + chunk_frames, n_frames)
        first = max(f0 - margin, 0)
        spec = log_mel(audio[first * MEL.hop : (f1 + margin) * MEL.hop], MEL)
        parts.append(spec[:, f0 - first : f1 - first])
    return np.concatenate(parts, axis=1)


@torch.inference_mode()
def draw_samples(model: Model, emb: np.ndarray, samples: int) -> torch.Tensor:
    """B x E embeddings -> B x samples x 3 x 96 x 96 images in [-1, 1] (dropout differs per sample)."""
    x = torch.from_numpy(emb).to(model.device).repeat_interleave(samples, dim=0)
    images = model.generator(x).float()
    return images.view(len(emb), samples, *images.shape[1:])
