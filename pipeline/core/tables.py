"""The tables that stages hand to each other: classes, column lists, id rules, atomic writes.

Every stage reads and writes these through the helpers below so that the
columns stay the same whichever source (demo, archive, youtube, local) filled them.
"""

from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

# The paper's five VEGAS classes, in class-index order.
CLASSES = ["Baby cry", "Dog", "Rail transport", "Fireworks", "Water flowing"]
CLASS_CODES = ["c001", "c002", "c003", "c004", "c005"]
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
CODE_TO_CLASS = dict(zip(CLASS_CODES, CLASSES))

SPLITS = ["train", "val", "test"]

# data/raw/clips.parquet: one row per clip that acquire produced, probed.
CLIP_COLUMNS = {
    "clip_id": "string",  # unique, [A-Za-z0-9_-], also the file stem
    "source": "string",  # demo | vegas_archive | youtube | local
    "source_video": "string",  # the video the clip was cut from (split unit)
    "vegas_video": "string",  # VEGAS name video_NNNNN, empty when unknown
    "class_name": "string",
    "class_code": "string",
    "event_start": "float64",  # annotated event span inside the clip, seconds
    "event_end": "float64",
    "path": "string",  # relative to the repository root
    "duration": "float64",  # probe info (NaN when the probe failed)
    "audio_streams": "int64",
    "video_streams": "int64",
    "sample_rate": "int64",
    "channels": "int64",
    "width": "int64",
    "height": "int64",
    "fps": "float64",
    "status": "string",  # ok, or the reject reason code
}

# data/segments/index.parquet: one row per 1-s segment.
SEGMENT_COLUMNS = {
    "segment_id": "string",  # WebDataset key: no dots
    "clip_id": "string",
    "source_video": "string",
    "class_name": "string",
    "class_index": "int64",
    "start": "float64",  # seconds from the start of the clip
    "split": "string",
    "path": "string",
}

# rejects tables (data/raw/rejects.parquet, data/shards/rejects.parquet)
REJECT_COLUMNS = {
    "clip_id": "string",
    "path": "string",
    "stage": "string",
    "reason": "string",  # short code: no_audio, corrupt, too_short, ...
    "message": "string",  # the one-line error
}

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class BadId(ValueError):
    pass


def check_id(value: str, what: str = "id") -> str:
    """Return value if it is a safe id (used in file names and command lines)."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise BadId(f"invalid {what} {value!r}: must be 1-128 chars of [A-Za-z0-9_-]")
    return value


def empty_table(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def conform(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Columns in contract order with contract dtypes; missing ones are an error."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing}")
    return df[list(columns)].astype(columns).reset_index(drop=True)


def new_scratch(parent: str | os.PathLike, prefix: str, suffix: str, *, folder: bool = False) -> Path:
    """A new empty file (or folder) in `parent` named prefix + random + suffix.

    It is created with mode 0666 (0777 for a folder), so the kernel applies the process's umask of the
    moment and the result gets the mode of any other output; the umask itself is never read or changed.
    """
    parent = Path(parent)
    while True:
        path = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            if folder:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temp path beside `path`; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_scratch(path.parent, f".{path.name}.", ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(df: pd.DataFrame, path: str | os.PathLike, columns: dict[str, str] | None = None) -> None:
    if columns is not None:
        df = conform(df, columns)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_parquet(path)
