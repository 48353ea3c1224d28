"""The leakage audit: could any validation or test sound have been seen in training?

Checks, across every pair of splits:
1. the same source video, clip id or VEGAS video in two splits (segment index);
2. near-duplicate central frames: 64-bit pHash (and its mirror) within `image_radius`
   bits, grouped into pairs of source videos;
3. near-duplicate audio: each clip's sub-fingerprints over all its segments' log-Mel
   frames, compared at the best alignment; pairs under `audio_threshold` bit error rate;
4. balance (segments per class per split) and segments outside their clip's annotated span.

Writes reports/audit/leakage.json (a DVC metric: `counts` plus every finding) and
reports/audit/leakage.html (thumbnails of each flagged pair). Exit code 1 when a leak
is found and `audit.fail_on_leak` is true (or an imbalance and `audit.fail_on_imbalance`).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.audit import fingerprints as fp
from pipeline.core import paths
from pipeline.core.errors import SettingError
from pipeline.core.params import load_params
from pipeline.core.settings import AuditParams
from pipeline.core.tables import CLASSES, SPLITS, read_table, write_text
from pipeline.dataset.wds import decode_npy, decode_png, iter_tar, shard_paths

INDEX_PATH = paths.SEGMENT_INDEX
CLIPS_PATH = paths.CLIPS_TABLE
SHARD_DIR = paths.SHARDS
OUT_DIR = paths.AUDIT_DIR
FRAMES_PER_SECOND = 100  # log-Mel hop of 10 ms (pipeline.media.features)
HASH_BATCH = 4096

DEFAULTS = {
    "image_radius": 8,  # Hamming bits out of 64
    "image_min_pairs": 1,  # matching segment pairs needed to flag a pair of videos
    "image_colour_tolerance": 12.0,  # mean abs difference (0-255) of 8x8 colour thumbnails
    "blank_std": 2.0,  # frames flatter than this (grey std, 0-255) are not hashed
    "audio_threshold": 0.30,  # bit error rate; unrelated audio sits near 0.5
    "audio_min_overlap_s": 1.0,
    "audio_candidates": 5,  # signature neighbours verified per clip of the later split
    "span_tolerance_s": 0.05,
    "expected_per_class": {},  # {split: segments per class}; empty: only equality is checked
    "fail_on_leak": True,
    "fail_on_imbalance": False,
}

LEAK_CHECKS = ["video_overlap", "clip_overlap", "vegas_overlap", "image_pairs", "audio_pairs"]


class AuditError(Exception):
    pass


# ---------------------------------------------------------------- reading the shards


def scan_shards(shard_dir: str | Path, blank_std: float) -> tuple[pd.DataFrame, dict]:
    """One row per shard sample (meta, pHash, mirror hash, blank) and, per clip, its segments'
    fingerprint band energies as a list of (start, 33 x frames float16)."""
    paths = [p for split in SPLITS for p in shard_paths(shard_dir, split)]
    if not paths:
        raise AuditError(f"{shard_dir}: no shards (expected {{train,val,test}}-NNNNNN.tar)")
    rows, images, hashes, thumbs = [], [], [], []
    bands_by_clip: dict[str, list] = defaultdict(list)

    def flush():
        if images:
            batch = np.stack(images)
            hashes.append(fp.image_hashes(batch, blank_std))
            thumbs.append(fp.colour_thumbnails(batch))
            images.clear()

    for path in tqdm(paths, desc="audit: read shards", unit="shard"):
        for key, fields in iter_tar(path):
            missing = [f for f in ("json", "png", "mel.npy") if f not in fields]
            if missing:
                raise AuditError(f"{path}: sample {key} lacks {missing}")
            meta = json.loads(fields["json"])
            image = decode_png(fields["png"])
            if image.shape != (96, 96, 3):
                raise AuditError(f"{path}: sample {key} image has shape {image.shape}, not 96x96x3")
            rows.append({**meta, "shard": path})
            images.append(image)
            bands_by_clip[meta["clip_id"]].append((float(meta["start"]), fp.mel_bands(decode_npy(fields["mel.npy"])).astype(np.float16)))
            if len(images) == HASH_BATCH:
                flush()
    flush()
    segments = pd.DataFrame(rows)
    segments["phash"] = np.concatenate([h[0] for h in hashes])
    segments["mirror"] = np.concatenate([h[1] for h in hashes])
    segments["blank"] = np.concatenate([h[2] for h in hashes])
    segments.attrs["thumbnails"] = np.concatenate(thumbs)
    return segments, bands_by_clip


def clip_timeline(pieces: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """33 x T band energies on the clip's own time axis; frames no segment covers are NaN."""
    width = pieces[0][1].shape[1]
    starts = [int(round(start * FRAMES_PER_SECOND)) for start, _ in pieces]
    timeline = np.full((pieces[0][1].shape[0], max(starts) + width), np.nan, dtype=np.float32)
    for s, (_, bands) in zip(starts, pieces):
        timeline[:, s : s + bands.shape[1]] = bands
    return timeline


def clip_fingerprints(bands_by_clip: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = {}
    for clip_id, pieces in tqdm(sorted(bands_by_clip.items()), desc="audit: audio fingerprints", unit="clip"):
        timeline = clip_timeline(pieces)
        words, valid = fp.subfingerprints(timeline)
        out[clip_id] = (words, valid, fp.clip_signature(timeline))
    return out


# ---------------------------------------------------------------- checks


def split_pairs() -> list[tuple[str, str]]:
    return list(combinations(SPLITS, 2))


def check_overlap(table: pd.DataFrame, column: str) -> list[dict]:
    """Values of `column` that occur in more than one split, with their segment counts per split."""
    table = table[table[column].notna() & (table[column].astype(str) != "")]
    counts = table.groupby([column, "split"]).size().unstack(fill_value=0)
    shared = counts[(counts > 0).sum(axis=1) > 1]
    return [{column: str(value), "splits": {s: int(n) for s, n in row.items() if n > 0}} for value, row in shared.iterrows()]


def check_images(segments: pd.DataFrame, radius: int, min_pairs: int, colour_tolerance: float) -> list[dict]:
    """Pairs of source videos in different splits whose central frames are within `radius` bits
    (either way round: the query frame or its mirror image) and whose colour thumbnails
    differ by at most `colour_tolerance` (pHash sees only coarse grey layout, so different
    scenes of one layout would match on it alone)."""
    thumbs = segments.attrs["thumbnails"][~segments["blank"].to_numpy()]
    usable = segments[~segments["blank"]].reset_index(drop=True)
    found = []
    for split_a, split_b in split_pairs():
        in_a, in_b = (usable["split"] == split_a).to_numpy(), (usable["split"] == split_b).to_numpy()
        a, b = usable[in_a].reset_index(drop=True), usable[in_b].reset_index(drop=True)
        best: dict[tuple[int, int], tuple[int, bool]] = {}
        for mirrored, query in ((False, b["phash"]), (True, b["mirror"])):
            i, j, dist = fp.near_pairs(a["phash"].to_numpy(np.uint64), query.to_numpy(np.uint64), radius)
            for ii, jj, d in zip(i.tolist(), j.tolist(), dist.tolist()):
                if (ii, jj) not in best or d < best[(ii, jj)][0]:
                    best[(ii, jj)] = (d, mirrored)
        if not best:
            continue
        ij = np.array(list(best))
        mirrored = np.array([v[1] for v in best.values()])
        same_colours = fp.colour_distance(thumbs[in_a][ij[:, 0]], thumbs[in_b][ij[:, 1]], mirrored) <= colour_tolerance
        ij, kept = ij[same_colours], [v for v, ok in zip(best.values(), same_colours) if ok]
        if not kept:
            continue
        pairs = pd.DataFrame(
            {
                "video_a": a["source_video"].to_numpy()[ij[:, 0]],
                "video_b": b["source_video"].to_numpy()[ij[:, 1]],
                "segment_a": a["segment_id"].to_numpy()[ij[:, 0]],
                "segment_b": b["segment_id"].to_numpy()[ij[:, 1]],
                "distance": [v[0] for v in kept],
                "mirrored": [v[1] for v in kept],
            }
        ).sort_values(["distance", "segment_a", "segment_b"])
        for (video_a, video_b), group in pairs.groupby(["video_a", "video_b"], sort=True):
            matched = one_to_one(group)
            if matched < min_pairs:
                continue
            top = group.iloc[0]
            found.append(
                {
                    "video_a": video_a,
                    "split_a": split_a,
                    "video_b": video_b,
                    "split_b": split_b,
                    "segment_a": top["segment_a"],
                    "segment_b": top["segment_b"],
                    "distance": int(top["distance"]),
                    "mirrored": bool(top["mirrored"]),
                    "matching_segment_pairs": matched,
                }
            )
    return sorted(found, key=lambda r: (r["distance"], r["video_a"], r["video_b"]))


def one_to_one(pairs: pd.DataFrame) -> int:
    """Segment pairs matched greedily by distance, each segment used once: at most the shorter clip's
    segment count (a static scene matches every segment of the other video, which is one pair each)."""
    used_a, used_b = set(), set()
    for a, b in zip(pairs["segment_a"], pairs["segment_b"]):  # pairs come sorted by distance
        if a not in used_a and b not in used_b:
            used_a.add(a)
            used_b.add(b)
    return len(used_a)


def blank_clips(segments: pd.DataFrame) -> list[dict]:
    """The clips with blank central frames (not hashed), with how many of their segments are blank."""
    per_clip = segments.groupby("clip_id", sort=True).agg(split=("split", "first"), segments=("blank", "size"), blank_segments=("blank", "sum"))
    return [
        {"clip_id": clip_id, "split": row.split, "blank_segments": int(row.blank_segments), "segments": int(row.segments)}
        for clip_id, row in per_clip[per_clip["blank_segments"] > 0].iterrows()
    ]


def check_audio(clips: pd.DataFrame, prints: dict, threshold: float, min_overlap: int, k: int) -> list[dict]:
    """Pairs of clips in different splits whose audio agrees within `threshold` bit error rate.

    `clips` has clip_id, source_video, split, first_segment. Each clip of the later
    split takes its top-k signature neighbours in the earlier split as candidates;
    each candidate is verified at its best alignment."""
    found = []
    longest = max((len(w) for w, _, _ in prints.values()), default=1)
    size = fp.fft_size(longest, 2)
    for split_a, split_b in split_pairs():
        a = clips[clips["split"] == split_a].reset_index(drop=True)
        b = clips[clips["split"] == split_b].reset_index(drop=True)
        if a.empty or b.empty:
            continue
        ids_a, ids_b = a["clip_id"].to_numpy(), b["clip_id"].to_numpy()
        i_all, j_all = fp.signature_candidates(np.stack([prints[c][2] for c in ids_a]), np.stack([prints[c][2] for c in ids_b]), k)
        for j in np.unique(j_all):
            wb, vb, _ = prints[ids_b[j]]
            spectrum_b = fp._spectrum(wb, vb, size, 2)
            for i in np.unique(i_all[j_all == j]):
                wa, va, _ = prints[ids_a[i]]
                ber, offset, frames = fp.best_alignment(wa, va, wb, vb, min_overlap, 2, spectrum_b, size)
                if frames and ber <= threshold:
                    found.append(
                        {
                            "clip_a": ids_a[i],
                            "video_a": a["source_video"][i],
                            "split_a": split_a,
                            "clip_b": ids_b[j],
                            "video_b": b["source_video"][j],
                            "split_b": split_b,
                            "segment_a": a["first_segment"][i],
                            "segment_b": b["first_segment"][j],
                            "distance": round(ber, 4),
                            "offset_s": offset / FRAMES_PER_SECOND,
                            "overlap_s": frames / FRAMES_PER_SECOND,
                        }
                    )
    return sorted(found, key=lambda r: (r["distance"], r["clip_a"], r["clip_b"]))


def check_balance(index: pd.DataFrame, expected: dict) -> dict:
    """Segments per class per split; a problem wherever classes differ or miss the expected count."""
    counts = index.groupby(["split", "class_name"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=[s for s in SPLITS if s in counts.index], columns=CLASSES, fill_value=0)
    problems = []
    for split, row in counts.iterrows():
        if row.nunique() > 1:
            problems.append(f"{split}: classes differ: " + ", ".join(f"{c} {n}" for c, n in row.items()))
        want = (expected or {}).get(split)
        if want is not None:
            off = {c: int(n) for c, n in row.items() if n != want}
            if off:
                problems.append(f"{split}: expected {want} per class, got " + ", ".join(f"{c} {n}" for c, n in off.items()))
    return {"per_class": {s: {c: int(n) for c, n in row.items()} for s, row in counts.iterrows()}, "problems": problems}


def check_spans(index: pd.DataFrame, clips: pd.DataFrame, tolerance: float) -> list[dict]:
    """Segments that start before their clip's event_start or end after event_end (or the clip)."""
    info = clips[["clip_id", "event_start", "event_end", "duration"]]
    joined = index.merge(info, on="clip_id", how="left")
    end = np.fmin(joined["event_end"], joined["duration"].fillna(np.inf))
    bad = joined["event_start"].isna() | (joined["start"] < joined["event_start"] - tolerance) | (joined["start"] + 1.0 > end + tolerance)
    return [
        {
            "segment_id": r.segment_id,
            "clip_id": r.clip_id,
            "split": r.split,
            "start": float(r.start),
            "event_start": None if pd.isna(r.event_start) else float(r.event_start),
            "event_end": None if pd.isna(r.event_end) else float(r.event_end),
        }
        for r in joined[bad].itertuples()
    ]


# ---------------------------------------------------------------- the whole audit


def audit(index: pd.DataFrame, clips: pd.DataFrame, shard_dir: str | Path, params: dict) -> tuple[dict, pd.DataFrame]:
    """The report dict and the shard segments table (for the thumbnails)."""
    segments, bands_by_clip = scan_shards(shard_dir, params["blank_std"])
    prints = clip_fingerprints(bands_by_clip)
    audio_clips = (
        segments.sort_values("start")
        .groupby("clip_id", sort=True)
        .agg(source_video=("source_video", "first"), split=("split", "first"), first_segment=("segment_id", "first"))
        .reset_index()
    )
    vegas = index.merge(clips[["clip_id", "vegas_video"]], on="clip_id", how="left")
    vegas["vegas_video"] = vegas["class_name"].astype(str) + "/" + vegas["vegas_video"].fillna("").astype(str)
    vegas.loc[vegas["vegas_video"].str.endswith("/"), "vegas_video"] = ""
    report = {
        "video_overlap": check_overlap(index, "source_video"),
        "clip_overlap": check_overlap(index, "clip_id"),
        "vegas_overlap": check_overlap(vegas, "vegas_video"),
        "image_pairs": check_images(segments, params["image_radius"], params["image_min_pairs"], params["image_colour_tolerance"]),
        "audio_pairs": check_audio(audio_clips, prints, params["audio_threshold"], int(round(params["audio_min_overlap_s"] * FRAMES_PER_SECOND)), params["audio_candidates"]),
        "balance": check_balance(index, params["expected_per_class"]),
        "outside_span": check_spans(index, clips, params["span_tolerance_s"]),
        "blank_frames": blank_clips(segments),
    }
    counts = {name: len(report[name]) for name in LEAK_CHECKS}
    counts["leaks"] = sum(counts.values())
    counts["imbalanced"] = len(report["balance"]["problems"])
    counts["outside_span"] = len(report["outside_span"])
    counts["segments"] = int(len(segments))
    counts["blank_frames"] = int(segments["blank"].sum())
    counts["clips"] = int(len(audio_clips))
    counts["duplicate_segment_ids"] = int(segments["segment_id"].duplicated().sum())
    in_index = set(index["segment_id"])
    counts["shard_segments_not_in_index"] = int((~segments["segment_id"].isin(in_index)).sum())
    return {"counts": counts, "params": params, **report}, segments


def load_audit_params(path: str | Path) -> dict:
    section = (load_params(path) or {}).get("audit") or {}
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise AuditError(f"{path}: unknown audit params {unknown}")
    params = {**DEFAULTS, **section}
    try:
        AuditParams.from_params(params, "audit")  # the types; the report keeps the dict as read
    except SettingError as err:
        raise AuditError(f"{path}: {str(err).removeprefix('params.yaml: ')}") from None
    if not 0 <= int(params["image_radius"]) < 32:
        raise AuditError(f"{path}: audit.image_radius must be in 0..31")
    if not 0.0 < float(params["audio_threshold"]) < 0.5:
        raise AuditError(f"{path}: audit.audio_threshold must be between 0 and 0.5 (bit error rate)")
    return params


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise AuditError(f"{path}: no such file (the {what}; run the earlier stages first)")
    return read_table(path)


def run(params_path: str | Path, index_path: str | Path, clips_path: str | Path, shard_dir: str | Path, out_dir: str | Path) -> int:
    """The audit of one run's tables and shards, written to out_dir; the exit status (0, 1 on a failing
    finding, 2 when the inputs cannot be read, with a one-line error)."""
    try:
        params = load_audit_params(params_path)
        index = _read(Path(index_path), "segment index")
        clips = _read(Path(clips_path), "clip table")
        report, segments = audit(index, clips, shard_dir, params)
    except (AuditError, ValueError, KeyError, OSError) as err:
        print(f"audit: error: {err}", file=sys.stderr)
        return 2
    from pipeline.audit.report import render_html

    out = Path(out_dir)
    write_text(json.dumps(report, indent=2, default=_jsonable) + "\n", out / "leakage.json")
    write_text(render_html(report, segments), out / "leakage.html")
    counts = report["counts"]
    print("audit: " + ", ".join(f"{k} {counts[k]}" for k in LEAK_CHECKS + ["imbalanced", "outside_span"]) + f" -> {out / 'leakage.json'}")
    failed = (counts["leaks"] and params["fail_on_leak"]) or (counts["imbalanced"] and params["fail_on_imbalance"])
    return 1 if failed else 0


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
