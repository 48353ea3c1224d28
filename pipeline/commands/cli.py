"""The `s2i` command: one subcommand per tool, each a module with `main(argv) -> int | None`.

A setting or input file that a library cannot use (`pipeline.core.errors.S2IError`) ends the command with
one line `s2i NAME: FILE: reason` on stderr and exit status 2.
"""

from __future__ import annotations

import importlib
import sys

from pipeline.core.errors import exit_status

COMMANDS = {
    "translate": ("pipeline.commands.translate", "turn sound files into images with a trained model"),
    "listen": ("pipeline.commands.listen", "a web page that shows what the model imagines from the microphone or a file"),
    "audit": ("pipeline.commands.audit", "check the splits for leakage (source videos, near-duplicate frames and audio)"),
    "label": ("pipeline.commands.label", "label generated images as informative or not in a local web page"),
    "manifest": ("pipeline.commands.manifest", "build a YouTube manifest for the `youtube` source from AudioSet CSVs"),
}


def usage() -> str:
    lines = ["usage: s2i COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"s2i: unknown command {name!r}\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return exit_status(f"s2i {name}", lambda: module.main(rest), error_status=2)


if __name__ == "__main__":
    sys.exit(main())
