"""The ``seqsim`` console command: :func:`seqsim.cli.main.main` with Ctrl-C
handled from the command's first instant to its last.

Under Python's own handler a Ctrl-C is a KeyboardInterrupt wherever it lands.
Two ends of the command are outside ``main()``'s handling, and one stretch
inside it cannot stop part-way:

- **Loading.** Importing the command loads numpy, pandas, DuckDB and numba
  (about a second). This module and ``seqsim`` itself load none of them, so
  :func:`run` notes a Ctrl-C from its first line, lets the imports finish
  (numba stopped part-way leaves objects whose cleanup can crash), then
  stops with ``seqsim: interrupted`` and status 130, as a running command does.
- **Compiling.** A Ctrl-C during the one-off compile (1-2 minutes) is held
  until it ends; a second one ends the command at once
  (:func:`seqsim.interrupts.exit_on_second_interrupt`).
- **Shutting down.** Once ``main()`` has returned the command is done (its
  result written), but Python still shuts down, which takes a while after a
  big run: a Ctrl-C then killed the process and a shell reported 130 for a
  finished command. That SIGINT is ignored, and the status stays ``main()``'s.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import NoReturn

from seqsim.interrupts import EXIT_INTERRUPTED, exit_on_second_interrupt

__all__ = ["run"]


def run() -> NoReturn:
    """Run the ``seqsim`` command line and exit with its status (see the module doc).

    A SIGINT that is ignored when the command starts (a background job of a
    non-interactive shell) stays ignored.
    """
    held: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        # Also what main() puts back on return: a Ctrl-C after it is noted, unused.
        signal.signal(signal.SIGINT, note)
    exit_on_second_interrupt()  # a second Ctrl-C during a compile stops at once
    # Imported here, not at the top: the loading must run with the Ctrl-C noted.
    from seqsim.cli.main import main
    if held:
        print("seqsim: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    else:
        status = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)
