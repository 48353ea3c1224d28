"""The project's error type: a setting or an input file that the user has to fix, told in one line.

Libraries raise `S2IError` (or a subclass) with a message that names the file (or the setting) and the
reason; they never exit the process. Only stages and commands turn it into an exit status and one line
on stderr, through `exit_status`.
"""

from __future__ import annotations

import sys
from typing import Callable


class S2IError(Exception):
    """A problem the user can fix; str(err) names the file or setting and the reason."""


class SettingError(S2IError):
    """A value in params.yaml that cannot be used (unknown choice, a path that is not there)."""


class InputFileError(S2IError):
    """An input file that is missing, unreadable or lacks what it must hold."""


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def exit_status(prog: str, main: Callable[[], int | None], error_status: int = 1) -> int:
    """Run a stage's or command's `main`: its own status, or `error_status` and one line
    `prog: message` on stderr when it raised an S2IError."""
    try:
        return int(main() or 0)
    except S2IError as err:
        print(f"{prog}: {one_line(err)}", file=sys.stderr)
        return error_status
