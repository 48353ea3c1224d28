"""The evaluation's figures (PNG) and the one-page HTML report that holds them.

Figures, after the paper: Table 1 (data per split and class), Fig. 5 (a clip's
log-Mel spectrogram segments above their frames and translations), Figs. 7-14
(informativity and pixel loss per epoch), Fig. 15 (translations by class) and
Fig. 16 (ground truth beside translation).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from s2i_models.rng import RandomStream

from pipeline.core import paths
from pipeline.core.figures import image_grid, save_png, test_grid
from pipeline.core.tables import CLASSES, SPLITS, write_text
from pipeline.dataset.loader import MelScale, SplitArrays, drawing
from pipeline.evaluation import labelsets

STATS = paths.STATS
FIGURES = {
    "table1": "Table 1: 1-s segments (source videos) per split and class",
    "fig05_strip": "Fig. 5: consecutive 1-s segments of one test clip: log-Mel, video frame, translation",
    "per_epoch": "Figs. 7-14: informativity, class match and test pixel loss per evaluated epoch",
    "fig15_by_class": "Fig. 15: translations of test sounds, by class (final generator)",
    "fig16_truth_vs_translation": "Fig. 16: ground truth beside translation (final generator)",
}
# viridis-like anchors for spectrograms: dark blue -> teal -> yellow
_COLOURS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64)


def colourise(values: np.ndarray) -> np.ndarray:
    """values in [0, 1] (H x W) -> uint8 H x W x 3."""
    x = np.clip(values, 0, 1) * (len(_COLOURS) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_COLOURS) - 2)
    t = (x - lo)[..., None]
    return np.round(_COLOURS[lo] * (1 - t) + _COLOURS[lo + 1] * t).astype(np.uint8)


def mel_picture(mel: np.ndarray, size: int = 96) -> np.ndarray:
    """A 128 x 100 log-Mel as a size x size colour image, low bands at the bottom."""
    scaled = (MelScale().apply(np.asarray(mel, np.float32)) + 1) / 2
    img = Image.fromarray(colourise(scaled[::-1]))
    return np.asarray(img.resize((size, size), Image.BILINEAR))


def text_table(rows: list[list[str]], title: str) -> Image.Image:
    font = ImageFont.load_default()
    widths = [max(len(r[j]) for r in rows) * 7 + 16 for j in range(len(rows[0]))]
    canvas = Image.new("RGB", (sum(widths) + 16, 30 + 18 * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 6), title, fill="black", font=font)
    for i, row in enumerate(rows):
        x, y = 8, 26 + 18 * i
        for j, cell in enumerate(row):
            draw.text((x, y), cell, fill="black" if i else "navy", font=font)
            x += widths[j]
        if i == 0:
            draw.line((8, y + 15, sum(widths), y + 15), fill="grey")
    return canvas


def table1(stats: dict) -> Image.Image:
    rows = [["split"] + CLASSES + ["total"]]
    for split in SPLITS:
        part = stats.get(split, {})
        rows.append([split] + [f"{part[c]['segments']} ({part[c]['videos']})" if c in part else "-" for c in CLASSES + ["total"]])
    return text_table(rows, "Table 1: segments (videos) per split and class")


def line_chart(epochs: list[int], series: dict[str, list[float]], title: str, size=(520, 260)) -> Image.Image:
    """A plain line chart; each series is scaled to its own [min, max] and labelled with its range."""
    w, h = size
    left, right, top, bottom = 50, 170, 24, 30
    canvas = Image.new("RGB", size, "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    draw.text((left, 6), title, fill="black", font=font)
    draw.rectangle((left, top, w - right, h - bottom), outline="grey")
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    e0, e1 = min(epochs), max(epochs)
    xs = [left + (w - right - left) * ((e - e0) / (e1 - e0) if e1 > e0 else 0.5) for e in epochs]
    for k, (name, values) in enumerate(series.items()):
        v = np.asarray(values, np.float64)
        lo, hi = np.nanmin(v), np.nanmax(v)
        ys = [h - bottom - (h - top - bottom) * ((x - lo) / (hi - lo) if hi > lo else 0.5) for x in v]
        colour = palette[k % len(palette)]
        if len(xs) > 1:
            draw.line(list(zip(xs, ys)), fill=colour, width=2)
        for x, y in zip(xs, ys):
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        draw.text((w - right + 8, top + 30 * k), f"{name}\n{lo:.3g} .. {hi:.3g}", fill=colour, font=font)
    draw.text((left, h - bottom + 6), f"epoch {e0}", fill="black", font=font)
    draw.text((w - right - 50, h - bottom + 6), f"epoch {e1}", fill="black", font=font)
    return canvas


def fig5_strip(G, test: SplitArrays, test_emb: np.ndarray, seed: int, length: int = 6) -> Image.Image:
    """The test clip with the most segments: its first `length` consecutive segments."""
    by_clip: dict[str, list[int]] = {}
    for i, meta in enumerate(test.meta):
        by_clip.setdefault(meta["clip_id"], []).append(i)
    clip = max(sorted(by_clip), key=lambda c: len(by_clip[c]))
    rows = sorted(by_clip[clip], key=lambda i: test.meta[i]["start"])[:length]
    fakes = labelsets.translate(G, test_emb[rows], seed=seed)
    grid = [[mel_picture(test.mels[i]) for i in rows], [test.images[i] for i in rows], list(fakes)]
    labels = [f"{test.meta[i]['start']:.0f}-{test.meta[i]['start'] + 1:.0f} s" for i in rows]
    return image_grid(grid, ["log-Mel", "frame", "translation"], f"{test.meta[rows[0]]['class_name']}: clip {clip}", labels, scale=1)


def fig15_by_class(G, test: SplitArrays, test_emb: np.ndarray, seed: int, per_class: int = 8) -> Image.Image:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(len(CLASSES)):
        members = np.flatnonzero(test.class_index == c)
        pick = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        rows.append(list(labelsets.translate(G, test_emb[pick], seed=seed + c)) if len(pick) else [None])
    return image_grid(rows, CLASSES, "translations of test sounds (sounds of unknown videos)", scale=1)


def fig16_truth_vs_translation(G, test: SplitArrays, test_emb: np.ndarray, seed: int) -> Image.Image:
    with RandomStream(seed, next(G.parameters()).device):  # the dropout draws of this figure only
        return test_grid(test.images, test.class_index, drawing(G, torch.from_numpy(test_emb)), seed=seed)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


CONTROLS = {"untrained": "the same generator, untrained", "shuffled": "the final generator on shuffled sounds", "ridge": "ridge regression from the same embeddings to pixels"}


def metrics_tables(result: dict) -> str:
    e = html.escape
    rater = "rater_informativity" in result
    unmeasured = result.get("informativity_unmeasured", {})
    head = (
        "<tr><th>class</th><th>informativity (final)</th><th>window mean</th><th>max moving avg</th>"
        + ("<th>demo rater informativity</th><th>classifier agrees with rater</th>" if rater else "")
        + "<th>class match (final)</th><th>classifier accuracy</th></tr>"
    )
    rows = []
    for name in CLASSES + ["mean"]:
        s = result["informativity_summary"][name]
        final = f'<span title="{e(unmeasured[name])}">not measured</span>' if name in unmeasured else _fmt(result["informativity"][name])
        rater_cells = f"<td>{_fmt(result['rater_informativity'][name])}</td><td>{_fmt(result['classifier_rater_agreement'][name])}</td>" if rater else ""
        rows.append(
            f"<tr><td>{e(name)}</td><td>{final}</td>"
            f"<td>{_fmt(s['window_mean'])}</td><td>{_fmt(s['max_moving_average'])}</td>{rater_cells}"
            f"<td>{_fmt(result['class_match'][name])}</td>"
            f"<td>{_fmt(result['classifier_accuracy'].get(name))}</td></tr>"
        )
    covered = result["informativity_classes_covered"]
    coverage = (
        f"<p class=coverage>The informativity mean covers <b>{covered} of {len(CLASSES)}</b> classes."
        + "".join(f"<br>{e(name)}: not measured: {e(reason)}" for name, reason in unmeasured.items())
        + "</p>"
    )
    control_head = "<tr><th>control</th><th>informativity</th><th>class match</th>" + ("<th>demo rater informativity</th>" if rater else "") + "</tr>"
    control_rows = "".join(
        f"<tr><td>{e(label)}</td><td>{_fmt(result[key]['informativity'])}</td>"
        f"<td>{_fmt(result[key]['class_match'])}</td>" + (f"<td>{_fmt(result[key]['rater_informativity'])}</td>" if rater else "") + "</tr>"
        for key, label in CONTROLS.items()
    )
    extra = [
        ("Frechet distance to real test frames (class-match feature space)", result["frechet_distance"]),
        ("retrieval accuracy (nearest real train frame has the sound's class)", result["retrieval_accuracy"]),
        ("diversity (mean |difference| between dropout samples, [-1, 1] pixels)", result["diversity"]),
        ("test pixel loss (MSE)", result["pixel_loss"]),
        ("memorisation: nearest train frame from the sound's own video (train sounds)", result["memorisation"]["same_video_share"]),
        ("... chance level of the same", result["memorisation"]["chance"]),
        ("5-way class-match classifier, accuracy on real val frames", result["classifier_accuracy"]["class_match_val"]),
        ("evaluated epochs replaced by the post-discriminator-update correction", result["d_corrected_epochs"]),
    ]
    extra_rows = "".join(f"<tr><td>{e(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in extra)
    return f"<table>{head}{''.join(rows)}</table>{coverage}<h2>Controls</h2><table>{control_head}{control_rows}</table><h2>Beyond the paper</h2><table>{extra_rows}</table>"


def render_html(result: dict, figure_files: dict[str, str]) -> str:
    e = html.escape
    source = result["label_source"]
    note = (
        "Labels come from the <b>demo rater</b>, a stand-in for people that knows the demo world's scenes (no human labels in <code>data/labels/informativity.csv</code>)."
        if source != "people"
        else "Labels come from people (<code>s2i label</code>)."
    )
    if "rater_informativity" in result:
        note += (
            " On this demo-world run the rater also judges the test translations directly: its informativity "
            "stands beside the classifiers' estimate, with how often the classifiers agree with it."
        )
    figs = "".join(f'<figure><img src="{e(path)}" alt="{e(FIGURES[name])}"><figcaption>{e(FIGURES[name])}</figcaption></figure>' for name, path in figure_files.items())
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>s2i evaluation</title><style>"
        "body{font-family:sans-serif;margin:1.5em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
        "figure{margin:1em 0}img{max-width:100%;image-rendering:pixelated}figcaption{color:#444}"
        "</style></head><body>"
        f"<h1>Sound-to-Imagination: evaluation after epoch {result['final_epoch']}</h1>"
        f"<p>{result['test_sounds']} test sounds from videos never seen in training, translated with test-time "
        f"dropout on. Informativity = share of images that their class's informativity classifier calls "
        f"informative. Class match (a 5-way classifier on real frames) is reported only as the contrast the "
        f"paper warns about. {note}</p>"
        f"<h2>Informativity</h2>{metrics_tables(result)}{figs}</body></html>\n"
    )


def write_report(
    report_dir: Path, result: dict, epochs: list[int], per_epoch: list[dict], G, test: SplitArrays, test_emb: np.ndarray, shard_dir: Path, seed: int, stats_path: Path = STATS
) -> Path:
    fig_dir = Path(report_dir) / "figures"
    images = {}
    if Path(stats_path).is_file():
        images["table1"] = table1(json.loads(Path(stats_path).read_text()))
    images["fig05_strip"] = fig5_strip(G, test, test_emb, seed)
    images["per_epoch"] = line_chart(
        epochs,
        {
            "informativity": [r["informativity"]["mean"] for r in per_epoch],
            "class match": [r["class_match"]["mean"] for r in per_epoch],
            "test pixel loss": [r["pixel_loss"] for r in per_epoch],
        },
        "mean over classes, per evaluated epoch",
    )
    images["fig15_by_class"] = fig15_by_class(G, test, test_emb, seed)
    images["fig16_truth_vs_translation"] = fig16_truth_vs_translation(G, test, test_emb, seed)
    files = {}
    for name, image in images.items():
        save_png(image, fig_dir / f"{name}.png")
        files[name] = f"figures/{name}.png"
    path = Path(report_dir) / "report.html"
    write_text(render_html(result, files), path)
    return path
