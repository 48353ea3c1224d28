"""`s2i listen`: a web page that shows, every second, what the model imagines from the microphone.

    s2i listen [--model DIR] [--host 127.0.0.1] [--port 8000] [--certfile PEM --keyfile PEM]
               [--samples N] [--device cpu|cuda] [--max-upload-mb MB] [--max-file-minutes M]
               [--max-clients N] [--quiet-db DB]

Open the printed address in a browser, press Start listening, allow the microphone:
the page sends 1-s windows to the server and shows the newest imagined image large,
its spread map (how much the N samples disagree) beside it, and the last 30 seconds
under it. Or choose / drop an audio or video file to see its whole timeline.

The server binds 127.0.0.1 (this computer only). Browsers give the microphone only to
pages from localhost or over HTTPS: to use a phone on your home network, pass
`--host 0.0.0.0 --certfile cert.pem --keyfile key.pem` (see docs/listen.md).
Exit status: 0 after Ctrl-C, 2 for bad arguments or an unusable model.
"""

from __future__ import annotations

import argparse
import math
import socket
import sys
from pathlib import Path

from s2i_models import pick_device

from pipeline.commands.translate import TranslateError, load_model, positive_int
from pipeline.core import paths
from pipeline.translation.imaginer import Imaginer
from pipeline.translation.listen_server import Limits, make_app

DEFAULT_PORT = 8000


def _positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 (any free port) to 65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    limits = Limits()
    parser = argparse.ArgumentParser(
        prog="s2i listen", description="A web page that shows what a trained S2I model imagines from the microphone, every second, or from a media file."
    )
    parser.add_argument("--model", type=Path, metavar="DIR", default=paths.MODELS, help="folder with autoencoder/best.pt and translator/generator.pt (default: models)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free port")
    parser.add_argument("--certfile", type=Path, metavar="PEM", help="TLS certificate: serve HTTPS (phones need it)")
    parser.add_argument("--keyfile", type=Path, metavar="PEM", help="TLS private key of --certfile")
    parser.add_argument("--samples", type=positive_int, metavar="N", default=4, help="images drawn per window for the spread map (default 4; the page shows the first)")
    parser.add_argument("--device", default=None, metavar="DEVICE", help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--max-upload-mb", type=_positive_float, metavar="MB", default=limits.max_upload_bytes / 2**20, help="largest file accepted (default %(default)g MB; larger: HTTP 413)"
    )
    parser.add_argument(
        "--max-file-minutes", type=_positive_float, metavar="M", default=limits.max_file_seconds / 60, help="longest sound accepted in a file (default %(default)g)"
    )
    parser.add_argument(
        "--max-clients", type=positive_int, metavar="N", default=limits.max_live_clients, help="live listeners at once (default %(default)d); more are told the server is busy"
    )
    parser.add_argument(
        "--quiet-db", type=float, metavar="DB", default=limits.quiet_dbfs, help="windows quieter than this RMS level (dB full scale) show the quiet state (default %(default)g)"
    )
    return parser


def check_tls(args) -> None:
    if (args.certfile is None) != (args.keyfile is None):
        raise ValueError("--certfile and --keyfile go together")
    for path in (args.certfile, args.keyfile):
        if path is not None and not path.is_file():
            raise ValueError(f"{path}: no such file")


def open_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until the server runs, so the printed address works at once
    return sock


def serve(app, sock: socket.socket, certfile: Path | None = None, keyfile: Path | None = None) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws_max_size=64 * 1024,
        ws_ping_interval=20.0,
        timeout_graceful_shutdown=3,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
    )
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    try:
        check_tls(args)
        model = load_model(args.model, pick_device(args.device))
        sock = open_socket(args.host, args.port)
    except (TranslateError, ValueError, RuntimeError, OSError) as err:
        print(f"s2i listen: {err}", file=sys.stderr)
        return 2
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_file_seconds=args.max_file_minutes * 60, max_live_clients=args.max_clients, quiet_dbfs=args.quiet_db)
    imaginer = Imaginer(model, samples=args.samples)
    imaginer.warm_up()
    info = {k: {key: v[key] for key in ("emb_dim", "width", "epoch")} for k, v in model.info.items()}
    app = make_app(imaginer, limits, info)
    host, port = sock.getsockname()[:2]
    scheme = "https" if args.certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    print(f"s2i listen: open {scheme}://{shown}:{port}/ in a browser (Ctrl-C to stop)", flush=True)
    try:
        serve(app, sock, args.certfile, args.keyfile)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
