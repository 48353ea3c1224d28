"""Writing WebDataset shards: decode each clip once, cut log-Mel + central-frame samples, count the
paper's Table 1.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.core import paths
from pipeline.core.tables import CLASSES, REJECT_COLUMNS, SPLITS, write_table
from pipeline.dataset import wds
from pipeline.media.decode import MediaError, decode_audio, decode_frames
from pipeline.media.features import MelConfig, log_mel, segment_slice

SHARD_DIR = paths.SHARDS
STATS_PATH = paths.STATS
EARLIER_REJECTS = [paths.RAW_REJECTS, paths.SEGMENT_REJECTS]


@dataclass(frozen=True)
class ShardConfig:
    mel: MelConfig
    image_size: int = 96
    frame_fps: float = 10.0


def clip_samples(job: tuple[str, list[dict], ShardConfig]) -> tuple[list, dict | None]:
    """All samples of one clip from a single decode; or a reject row if the clip fails."""
    path, segments, cfg = job
    try:
        spectrogram = log_mel(decode_audio(path, cfg.mel.sample_rate), cfg.mel)
        frames = decode_frames(path, cfg.frame_fps, cfg.image_size)
    except MediaError as err:
        return [], {"clip_id": segments[0]["clip_id"], "path": path, "stage": "shards", "reason": err.code, "message": str(err)}
    samples = []
    for seg in segments:
        centre = min(int(round((seg["start"] + 0.5) * cfg.frame_fps)), len(frames) - 1)
        meta = {k: seg[k] for k in ("segment_id", "clip_id", "source_video", "class_name", "class_index", "start", "split")}
        samples.append(
            (
                seg["segment_id"],
                {"mel.npy": wds.encode_npy(segment_slice(spectrogram, seg["start"], cfg.mel)), "png": wds.encode_png(frames[centre]), "json": wds.encode_json(meta)},
            )
        )
    return samples, None


class ShardWriter:
    """Cuts a stream of samples into <split>-NNNNNN.tar files of at most `size` samples."""

    def __init__(self, out_dir: Path, split: str, size: int):
        self.out_dir, self.split, self.size = out_dir, split, size
        self.buffer, self.count = [], 0

    def add(self, samples: list) -> None:
        self.buffer.extend(samples)
        while len(self.buffer) >= self.size:
            self._flush(self.buffer[: self.size])
            self.buffer = self.buffer[self.size :]

    def close(self) -> None:
        if self.buffer:
            self._flush(self.buffer)
            self.buffer = []

    def _flush(self, samples: list) -> None:
        wds.write_tar(self.out_dir / f"{self.split}-{self.count:06d}.tar", samples)
        self.count += 1


def table1(index: pd.DataFrame, rejects: pd.DataFrame) -> dict:
    """Videos and segments per class per split, totals, and rejects by reason."""
    stats = {}
    for split in SPLITS:
        part = index[index["split"] == split]
        stats[split] = {c: {"videos": int(part.loc[part["class_name"] == c, "source_video"].nunique()), "segments": int((part["class_name"] == c).sum())} for c in CLASSES}
        stats[split]["total"] = {"videos": int(part["source_video"].nunique()), "segments": int(len(part))}
    stats["rejects"] = {str(k): int(v) for k, v in rejects["reason"].value_counts().sort_index().items()}
    stats["rejects"]["total"] = int(len(rejects))
    return stats


def write_shards(index: pd.DataFrame, out_dir: Path, cfg: ShardConfig, per_shard: int, workers: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns the index rows that reached a shard and the shards-stage rejects."""
    tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    failed = []
    ctx = get_context("spawn")
    with ctx.Pool(max(1, workers)) as pool:
        for split in SPLITS:
            part = index[index["split"] == split]
            jobs = [(path, group.to_dict("records"), cfg) for (_, path), group in part.groupby(["clip_id", "path"], sort=True)]
            writer = ShardWriter(tmp_dir, split, per_shard)
            results = pool.imap(clip_samples, jobs, chunksize=1)
            for samples, reject in tqdm(results, total=len(jobs), desc=f"shards {split}", unit="clip"):
                writer.add(samples)
                if reject:
                    failed.append(reject)
            writer.close()
    rejects = pd.DataFrame(failed, columns=list(REJECT_COLUMNS))
    write_table(rejects, tmp_dir / "rejects.parquet", REJECT_COLUMNS)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp_dir.rename(out_dir)
    return index[~index["clip_id"].isin(rejects["clip_id"])], rejects
