"""reports/audit/leakage.html: a person's view of the audit, flagged pairs side by side.

Thumbnails (the central frame of the representative segment of each side, and its
log-Mel for audio pairs) are inline base64 PNGs, so the file stands alone.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.dataset.wds import decode_npy, decode_png, iter_tar

PAIR_CHECKS = [
    ("image_pairs", "Near-duplicate central frames", "Hamming distance of 64-bit pHash"),
    ("audio_pairs", "Near-duplicate audio", "bit error rate of the sub-fingerprints at the best alignment"),
]
LIST_CHECKS = [
    ("video_overlap", "Source videos in two splits", "source_video"),
    ("clip_overlap", "Clip ids in two splits", "clip_id"),
    ("vegas_overlap", "VEGAS videos in two splits", "vegas_video"),
]


def load_thumbnails(segments: pd.DataFrame, wanted: set[str]) -> dict[str, dict]:
    """segment_id -> {"image", "mel"} for the wanted segments, read from their shards."""
    rows = segments[segments["segment_id"].isin(wanted)]
    found = {}
    for shard in sorted(rows["shard"].unique()):
        keys = set(rows.loc[rows["shard"] == shard, "segment_id"])
        for key, fields in iter_tar(shard):
            if key in keys:
                found[key] = {"image": decode_png(fields["png"]), "mel": decode_npy(fields["mel.npy"])}
    return found


def png_data_uri(array: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def mel_picture(mel: np.ndarray) -> np.ndarray:
    """log-Mel (128 x 100) as a grey picture, low frequencies at the bottom."""
    lo, hi = np.percentile(mel, [1, 99])
    scaled = np.clip((mel - lo) / max(hi - lo, 1e-6), 0, 1)
    return (255 * scaled[::-1]).astype(np.uint8)


def _img(thumbs: dict, segment_id: str, key: str, width: int) -> str:
    if segment_id not in thumbs:
        return "<span class=missing>no thumbnail</span>"
    picture = thumbs[segment_id][key] if key == "image" else mel_picture(thumbs[segment_id][key])
    return f'<img src="{png_data_uri(picture)}" width="{width}" alt="{html.escape(segment_id)}">'


def _side(row: dict, side: str, thumbs: dict, with_mel: bool) -> str:
    e = html.escape
    ids = f"<b>{e(str(row['split_' + side]))}</b><br>video {e(str(row['video_' + side]))}"
    if "clip_" + side in row:
        ids += f"<br>clip {e(str(row['clip_' + side]))}"
    ids += f"<br>segment {e(str(row['segment_' + side]))}"
    pictures = _img(thumbs, row["segment_" + side], "image", 96)
    if with_mel:
        pictures += " " + _img(thumbs, row["segment_" + side], "mel", 100)
    return f"<td>{pictures}<br><small>{ids}</small></td>"


def render_html(report: dict, segments: pd.DataFrame) -> str:
    e = html.escape
    wanted = {r[f"segment_{s}"] for name, _, _ in PAIR_CHECKS for r in report[name] for s in "ab"}
    thumbs = load_thumbnails(segments, wanted) if wanted else {}
    counts = report["counts"]
    verdict = "LEAK FOUND" if counts["leaks"] else "no leak found"
    parts = [
        "<!doctype html><html><head><meta charset=utf-8><title>s2i split leakage audit</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top}"
        ".leak{color:#b00}.ok{color:#070}img{image-rendering:pixelated}</style></head><body>",
        f"<h1>Split leakage audit: <span class={'leak' if counts['leaks'] else 'ok'}>{verdict}</span></h1>",
        "<table><tr><th>check</th><th>count</th></tr>" + "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in counts.items()) + "</table>",
    ]
    for name, title, what in PAIR_CHECKS:
        rows = report[name]
        parts.append(f"<h2>{e(title)} ({len(rows)})</h2><p>distance: {e(what)}</p>")
        if rows:
            parts.append("<table><tr><th>#</th><th>distance</th><th>side a</th><th>side b</th></tr>")
            for n, row in enumerate(rows, 1):
                extra = ""
                if name == "image_pairs":
                    extra = f"<br>{'mirrored' if row['mirrored'] else ''}<br>{row['matching_segment_pairs']} segment pair(s)"
                else:
                    extra = f"<br>offset {row['offset_s']:.2f} s<br>overlap {row['overlap_s']:.1f} s"
                parts.append(
                    f"<tr><td>{n}</td><td>{row['distance']}{extra}</td>" + _side(row, "a", thumbs, name == "audio_pairs") + _side(row, "b", thumbs, name == "audio_pairs") + "</tr>"
                )
            parts.append("</table>")
    for name, title, column in LIST_CHECKS:
        rows = report[name]
        parts.append(f"<h2>{e(title)} ({len(rows)})</h2>")
        if rows:
            parts.append(
                "<table><tr><th>"
                + e(column)
                + "</th><th>segments per split</th></tr>"
                + "".join(f"<tr><td>{e(r[column])}</td><td>{e(str(r['splits']))}</td></tr>" for r in rows)
                + "</table>"
            )
    balance = report["balance"]
    parts.append(
        "<h2>Segments per class per split</h2><table><tr><th>split</th>"
        + "".join(f"<th>{e(c)}</th>" for c in next(iter(balance["per_class"].values()), {}))
        + "</tr>"
        + "".join(f"<tr><td>{e(s)}</td>" + "".join(f"<td>{n}</td>" for n in row.values()) + "</tr>" for s, row in balance["per_class"].items())
        + "</table>"
    )
    parts.append("<ul>" + "".join(f"<li class=leak>{e(p)}</li>" for p in balance["problems"]) + "</ul>")
    spans = report["outside_span"]
    parts.append(f"<h2>Segments outside their clip's annotated span ({len(spans)})</h2>")
    if spans:
        parts.append(
            "<table><tr><th>segment</th><th>split</th><th>start</th><th>event span</th></tr>"
            + "".join(f"<tr><td>{e(r['segment_id'])}</td><td>{e(r['split'])}</td><td>{r['start']:.2f}</td><td>{r['event_start']} .. {r['event_end']}</td></tr>" for r in spans)
            + "</table>"
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)
