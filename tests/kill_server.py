"""Fork server for tests/test_result_kill.py: import seqsim once, fork a child per instant.

Importing seqsim takes seconds here, and loading a result half a second; a
fork takes milliseconds, so the kill test can afford many instants. The
server never touches DuckDB (it only imports it): it unpickles the Results
to save (plain frames) and forks; each child opens its own database.

Protocol, one JSON object a line: the test sends a command, the server forks
a child and answers ``{"pid": PID}`` once the child is about to save (the
test may then signal that PID); the test sends ``"reap"`` and the server
answers ``{"code": EXIT_CODE, "signal": SIGNAL_OR_NULL}``.

A command: ``mode`` ("save": ``Result.save(target)`` of the pickled Result
in file ``source``; "cli":
``seqsim.cli.main.main(argv)``), ``fallback`` (swap without renameat2),
``step`` (the child sends itself ``signal`` just before its ``step``-th
file-system call of :data:`HOOKED`, counting from 1; null: never), ``count``
(a file the child writes its number of such calls into), ``stdout`` and
``stderr`` (files for the child's output).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from typing import Any

import seqsim.results.store as store
from seqsim import Result
from seqsim.cli.main import main

#: The file-system calls a save makes, between which the test stops it.
HOOKED = ("mkdir", "rename", "replace", "fsync", "unlink", "rmdir")


def hook(step: int | None, signum: int) -> list[int]:
    """Count the child's HOOKED calls (and store's exchange); signal itself before ``step``."""
    count = [0]

    def wrap(real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            if count[0] == step:
                os.kill(os.getpid(), signum)
            return real(*args, **kwargs)
        return call

    for name in HOOKED:
        setattr(os, name, wrap(getattr(os, name)))
    store._exchange = wrap(store._exchange)
    return count


def child(command: dict[str, Any], result: Result | None, go: int) -> int:
    """Run one command in the forked child; return its exit status."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(command[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    if command["fallback"]:
        store._RENAMEAT2 = None
    signum = signal.SIGKILL if command["signal"] == "KILL" else signal.SIGINT
    code = 0
    if result is not None:
        count = hook(command["step"], signum)
        os.write(go, b"g")
        try:
            result.save(command["target"])
        except KeyboardInterrupt:
            code = 130
    else:
        count = hook(command["step"], signum)
        # main() puts back the handler it found when it returns: a SIGINT that lands
        # after that is past the command, not a KeyboardInterrupt in this harness.
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        os.write(go, b"g")
        code = main(command["argv"])
    with open(command["count"], "w") as handle:
        handle.write(str(count[0]))
    return code


def serve() -> None:
    # Started from a background job (make test-kill &), the server inherits SIGINT
    # ignored, and so would every child: the SIGINT tests would test nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print("ready", flush=True)
    results: dict[str, Result] = {}
    for line in sys.stdin:
        command = json.loads(line)
        source = command.get("source")
        if source is not None and source not in results:
            with open(source, "rb") as handle:
                results[source] = pickle.load(handle)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            code = 1
            try:
                code = child(command, results.get(source), write)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(write)
        os.read(read, 1)  # "g", or nothing when the child died first
        os.close(read)
        print(json.dumps({"pid": pid}), flush=True)
        assert json.loads(sys.stdin.readline()) == "reap"
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status)
                          else None,
                          "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}),
              flush=True)


if __name__ == "__main__":
    serve()
