"""params.yaml as typed, frozen dataclasses: one per section (`TranslatorParams`, ...), built by
`from_params`, where an unknown or missing key, or a value of the wrong type, is a SettingError naming it.

A section reads like the dict it was built from (`p["lr"]`, `p.get(...)`, `{**p}` give the same values,
never converted), so library code takes either. Each stage declares the params it reads,
`READS = ("translator", "informativity.rater_threshold", ...)` in dvc.yaml's spelling, and gets them from
`stage_params(READS)`: a section named only in part is a view that raises UndeclaredParam when code
reads a key the stage did not declare (`tests/test_stage_params.py` checks READS against dvc.yaml).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from pipeline.core.errors import SettingError
from pipeline.core.params import PARAMS_FILE, load_params


class UndeclaredParam(RuntimeError):
    """Code read a param its stage does not declare (so dvc would not rerun the stage when it changes)."""


class Section(Mapping):
    """A params.yaml section; subclasses are frozen dataclasses whose fields are the section's keys."""

    @classmethod
    def from_params(cls, values: Any, where: str):
        if not isinstance(values, Mapping):
            raise SettingError(f"params.yaml: {where} must be a mapping, got {values!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise SettingError(f"params.yaml: unknown param {where}.{key}")
        for name in names:
            if name not in values:
                raise SettingError(f"params.yaml: missing param {where}.{name}")
        hints = get_type_hints(cls)
        return cls(**{name: checked(values[name], hints[name], f"{where}.{name}") for name in names})

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def _keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))


def checked(value: Any, kind: type, where: str):
    """`value` itself when it has the field's type (an int passes for a float), a nested Section built from it."""
    if inspect.isclass(kind) and issubclass(kind, Section):
        return kind.from_params(value, where)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise SettingError(f"params.yaml: {where} must be {kind.__name__}, got {value!r}")
    return value


def section(cls):
    return dataclass(frozen=True, eq=False)(cls)


# ---- data (acquire) -------------------------------------------------------------------------------------
@section
class DemoParams(Section):
    clips_per_class: int
    seed: int
    broken: bool


@section
class VegasArchiveParams(Section):
    url: str
    filename: str
    download_dir: str
    sha256: str
    size: int
    keep_archive: bool
    timeout: float
    retries: int
    backoff: float
    max_wait: float
    class_folders: dict


@section
class YoutubeParams(Section):
    manifest: str
    url_template: str
    cookies: str
    format: str
    exact_cuts: bool
    min_interval: float
    max_bytes_per_second: float
    timeout: float
    retries: int
    backoff: float
    max_wait: float


@section
class LocalParams(Section):
    folder: str
    csv: str
    link: str
    class_folders: dict


@section
class DataParams(Section):
    source: str
    workers: int
    retry_failed: bool
    silent_below_db: float
    blank_std: float
    demo: DemoParams
    vegas_archive: VegasArchiveParams
    youtube: YoutubeParams
    local: LocalParams


# ---- segment, shards, audit ----------------------------------------------------------------------------
@section
class SplitParams(Section):
    method: str
    ratios: dict
    seed: int
    paper_csv: str


@section
class SegmentParams(Section):
    seconds: float
    balance: bool
    split: SplitParams


@section
class ShardsParams(Section):
    sample_rate: int
    win_ms: float
    hop_ms: float
    n_mels: int
    image_size: int
    frame_fps: float
    samples_per_shard: int
    workers: int


@section
class AuditParams(Section):
    image_radius: int
    image_min_pairs: int
    image_colour_tolerance: float
    blank_std: float
    audio_threshold: float
    audio_min_overlap_s: float
    audio_candidates: int
    span_tolerance_s: float
    expected_per_class: dict
    fail_on_leak: bool
    fail_on_imbalance: bool


# ---- models ----------------------------------------------------------------------------------------------
@section
class AutoencoderParams(Section):
    width: float
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    shuffle_buffer: int
    output_bn: bool
    mel_centre: float
    mel_half_range: float
    seed: int
    bf16: bool
    nproc: int
    sync_bn: bool


@section
class EmbedParams(Section):
    batch_size: int


@section
class TranslatorParams(Section):
    generator: str
    width: float
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    lr_decay: float
    momentum: float
    lambda_pixel: float
    lambda_adv: float
    adv_average: str
    output_bn: bool
    upsample: str
    ema_decay: float
    bn_recompute: bool
    d_dropout: float
    d_mismatch: bool
    d_projection: bool
    d_every: int
    d_norm: str
    loss: str
    noise_dim: int
    lambda_ms: float
    pixel_best_of: int
    lambda_fm: float
    lambda_texture: float
    lambda_colour: float
    pixel_scale: int
    augment: str
    r1: float
    d_unit: str
    snapshot_every: int
    seed: int
    bf16: bool
    nproc: int
    sync_bn: bool


@section
class ClassMatchParams(Section):
    width: float
    epochs: int
    batch_size: int


@section
class InformativityParams(Section):
    snapshots: int
    sounds_per_class: int
    samples_per_sound: int
    per_class: int
    test_share: float
    rater_threshold: float
    width: float
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    seed: int
    nproc: int
    sync_bn: bool
    class_match: ClassMatchParams


@section
class EvaluateParams(Section):
    samples_per_sound: int
    gallery_size: int
    memorisation_sounds: int
    window_start: int
    window_end: int
    ma_window: int
    d_after: int
    d_before: int
    seed: int


# The top level of params.yaml: a section's dataclass, or the type of a top-level value.
SECTIONS: dict[str, type] = {
    "emb_dim": int,
    "data": DataParams,
    "segment": SegmentParams,
    "shards": ShardsParams,
    "autoencoder": AutoencoderParams,
    "embed": EmbedParams,
    "translator": TranslatorParams,
    "audit": AuditParams,
    "informativity": InformativityParams,
    "evaluate": EvaluateParams,
}


def read_names(reads: tuple[str, ...]) -> dict[str, set[str] | None]:
    """section -> the keys of it the stage reads (None: all of it), from READS entries `section[.key]`."""
    out: dict[str, set[str] | None] = {}
    for entry in reads:
        name, _, key = entry.partition(".")
        if name not in SECTIONS or "." in key:
            raise ValueError(f"READS entry {entry!r}: expected a params.yaml section or section.key")
        kind = SECTIONS[name]
        if key and not (inspect.isclass(kind) and issubclass(kind, Section) and key in {f.name for f in dataclasses.fields(kind)}):
            raise ValueError(f"READS entry {entry!r}: {name} has no key {key!r}")
        if key and out.get(name, set()) is not None:
            out.setdefault(name, set()).add(key)
        else:
            out[name] = None
    return out


class DeclaredView(Mapping):
    """A read-only mapping whose entries are also attributes (`params.translator.epochs`)."""

    def __getattr__(self, key: str):
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]

    def __len__(self) -> int:
        return sum(1 for _ in self)


class PartialSection(DeclaredView):
    """The declared keys of one section; reading any other key is an UndeclaredParam."""

    def __init__(self, name: str, values: Mapping, keys: set[str]):
        self._name, self._values, self._keys = name, values, keys

    def __getitem__(self, key: str):
        if key not in self._keys:
            raise UndeclaredParam(f"{self._name}.{key} is read, but the stage's READS (and dvc.yaml params) declare only {sorted(f'{self._name}.{k}' for k in self._keys)}")
        return self._values[key]

    def __iter__(self):
        return (k for k in self._values if k in self._keys)


class StageParams(DeclaredView):
    """The params a stage declared: section name -> section (or the declared part of it)."""

    def __init__(self, sections: Mapping[str, Any], reads: tuple[str, ...]):
        self._reads = read_names(reads)
        self._sections = sections

    def __getitem__(self, name: str):
        if name not in self._reads:
            raise UndeclaredParam(f"params.yaml section {name!r} is read, but the stage's READS (and dvc.yaml params) do not declare it")
        value, keys = self._sections[name], self._reads[name]
        return value if keys is None else PartialSection(name, value, keys)

    def __iter__(self):
        return (name for name in self._reads if name in self._sections)


def load_sections(names, path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """The named top-level entries of params.yaml, each checked (a section as its dataclass); an unknown
    top-level entry is a SettingError too."""
    params = load_params(path)
    for key in params:
        if key not in SECTIONS:
            raise SettingError(f"params.yaml: unknown param {key}")
    out = {}
    for name in names:
        if name not in params:
            raise SettingError(f"params.yaml: missing param {name}")
        out[name] = checked(params[name], SECTIONS[name], name)
    return out


def stage_params(reads: tuple[str, ...], path: str | Path = PARAMS_FILE) -> StageParams:
    """What a stage with these READS may read of params.yaml, checked."""
    return StageParams(load_sections(read_names(reads), path), reads)
