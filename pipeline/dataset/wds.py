"""WebDataset shards: deterministic writing (fixed mtime, sorted members) and reading.

A sample is a key (no dots) and a dict of extension -> bytes. Members are
written as `<key>.<ext>` in sorted extension order, samples in the order given,
so the same samples give byte-identical tar files.
"""

from __future__ import annotations

import glob
import io
import json
import tarfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image

from pipeline.core.tables import atomic_path


def encode_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def decode_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def encode_png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def encode_json(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_tar(path: str | Path, samples: Iterable[tuple[str, dict[str, bytes]]]) -> int:
    """Write one shard atomically; returns the number of samples."""
    n = 0
    with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for key, fields in samples:
            if "." in key:
                raise ValueError(f"{path}: sample key {key!r} contains a dot")
            for ext in sorted(fields):
                _add_member(tar, f"{key}.{ext}", fields[ext])
            n += 1
    return n


def shard_paths(shard_dir: str | Path, split: str) -> list[str]:
    return sorted(glob.glob(str(Path(shard_dir) / f"{split}-[0-9][0-9][0-9][0-9][0-9][0-9].tar")))


def iter_tar(path: str | Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Samples of one shard in stored order, without webdataset (for tools and tests)."""
    key, fields = None, {}
    with tarfile.open(path) as tar:
        for member in tar:
            stem, _, ext = member.name.partition(".")
            if stem != key and key is not None:
                yield key, fields
                fields = {}
            key = stem
            fields[ext] = tar.extractfile(member).read()
    if key is not None:
        yield key, fields


def decode_sample(fields: dict[str, bytes]) -> dict:
    """mel (128 x 100 float32), image (96 x 96 x 3 uint8) and meta (dict)."""
    return {"mel": decode_npy(fields["mel.npy"]), "image": decode_png(fields["png"]), "meta": json.loads(fields["json"])}
