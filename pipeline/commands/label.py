"""`s2i label`: a local web page for labelling generated images (of validation sounds) as informative or not.

    s2i label [--rater NAME] [--port 8765] [--labels data/labels/informativity.csv]

The page (http://127.0.0.1:PORT/, this machine only) shows the images of the
informativity pool (the same images and ids the `informativity` stage uses) one at
a time with their sound's class, in a shuffled order, blind to model and epoch.
Answer with the buttons or the keys i (informative), n (not informative),
s (skip), u (undo the last answer). Each answer is appended to the labels CSV
atomically (the file is rewritten under a temp name and renamed); images that
have a row are not shown again, so a stopped session resumes where it was.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.core import paths
from pipeline.core.errors import SettingError
from pipeline.core.tables import BadId, atomic_path, check_id
from pipeline.evaluation import labelsets

PAGE_DIR = Path(__file__).with_name("label_page")
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/label.js": ("label.js", "text/javascript")}
HOST = "127.0.0.1"


class LabelSession:
    """The queue of unlabelled pool images and the CSV they are written to (thread-safe)."""

    def __init__(self, records, images: np.ndarray, labels_csv: str | Path, rater: str, seed: int = 0):
        self.records, self.images = records.reset_index(drop=True), images
        self.labels_csv, self.rater = Path(labels_csv), check_id(rater, "rater name")
        self.index = {image_id: i for i, image_id in enumerate(self.records["image_id"])}
        self.order = list(np.random.default_rng(seed).permutation(len(self.records)))
        self.lock = threading.Lock()

    def _rows(self) -> list[dict]:
        return labelsets.read_labels(self.labels_csv).to_dict("records")

    def _write(self, rows: list[dict]) -> None:
        with atomic_path(self.labels_csv) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=labelsets.LABEL_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)

    def next_item(self) -> dict:
        with self.lock:
            return self._next(self._rows())

    def _next(self, rows: list[dict]) -> dict:
        seen = {r["image_id"] for r in rows}
        todo = [i for i in self.order if self.records["image_id"].iat[i] not in seen]
        labelled = len([i for i in self.index if i in seen])
        if not todo:
            return {"done": True, "labelled": labelled, "remaining": 0}
        rec = self.records.iloc[todo[0]]
        return {"done": False, "image_id": rec["image_id"], "class_name": rec["class_name"], "labelled": labelled, "remaining": len(todo)}

    def answer(self, image_id: str, label: str) -> dict:
        if label not in labelsets.LABEL_VALUES:
            raise ValueError(f"label {label!r} is not one of {sorted(labelsets.LABEL_VALUES)}")
        if image_id not in self.index:
            raise KeyError(f"image {image_id!r} is not in the pool")
        rec = self.records.iloc[self.index[image_id]]
        with self.lock:
            rows = self._rows()
            if all(r["image_id"] != image_id for r in rows):  # a double click must not add two rows
                rows.append(
                    {
                        "image_id": image_id,
                        "snapshot": rec["snapshot"],
                        "class_name": rec["class_name"],
                        "label": label,
                        "rater": self.rater,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    }
                )
                self._write(rows)
            return self._next(rows)

    def undo(self) -> dict:
        """Remove this rater's last row for an image of this pool (it is shown again next)."""
        with self.lock:
            rows = self._rows()
            for k in range(len(rows) - 1, -1, -1):
                if rows[k]["rater"] == self.rater and rows[k]["image_id"] in self.index:
                    undone = rows.pop(k)
                    self._write(rows)
                    self.order.remove(self.index[undone["image_id"]])
                    self.order.insert(0, self.index[undone["image_id"]])
                    break
            return self._next(rows)

    def png(self, image_id: str) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(self.images[self.index[image_id]]).save(buf, format="PNG")
        return buf.getvalue()


def make_handler(session: LabelSession):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # keep the terminal quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, value, status: int = 200) -> None:
            self._send(status, json.dumps(value).encode(), "application/json")

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path in STATIC:
                name, content_type = STATIC[path]
                self._send(200, (PAGE_DIR / name).read_bytes(), content_type)
            elif path == "/next":
                self._json(session.next_item())
            elif path.startswith("/image/") and path.endswith(".png"):
                image_id = path[len("/image/") : -len(".png")]
                try:
                    check_id(image_id, "image id")
                    self._send(200, session.png(image_id), "image/png")
                except (BadId, KeyError):
                    self._send(404, b"no such image", "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self):
            length = min(int(self.headers.get("Content-Length") or 0), 10_000)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/label":
                    self._json(session.answer(check_id(str(body.get("image_id")), "image id"), str(body.get("label"))))
                elif self.path == "/undo":
                    self._json(session.undo())
                else:
                    self._send(404, b"not found", "text/plain")
            except (ValueError, KeyError) as err:
                self._send(400, str(err).encode(), "text/plain")

    return Handler


def make_server(session: LabelSession, port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (port 0 = any free port; see server.server_address)."""
    return ThreadingHTTPServer((HOST, port), make_handler(session))


def build_session(labels_csv: Path, rater: str, params_path: Path) -> LabelSession:
    from pipeline.core.settings import load_sections

    params = load_sections(["informativity", "translator"], params_path)
    p = params["informativity"]
    labelsets.read_labels(labels_csv)  # a damaged labels file stops here, before the pool is drawn
    snapshots = labelsets.run_snapshots(paths.SNAPSHOTS, params["translator"])  # the informativity stage's pool
    pool = labelsets.build_pool(snapshots, labelsets.load_sounds(), p)
    return LabelSession(pool.records, pool.images, labels_csv, rater, seed=p["seed"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s2i label", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rater", default="person", help="your name or initials ([A-Za-z0-9_-])")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--labels", type=Path, default=paths.LABELS_CSV)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        session = build_session(args.labels, args.rater, args.params)
    except (FileNotFoundError, ValueError, SettingError) as err:
        print(f"s2i label: {err}")
        return 1
    server = make_server(session, args.port)
    host, port = server.server_address[:2]
    print(f"labelling {len(session.records)} images into {args.labels}: open http://{host}:{port}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
