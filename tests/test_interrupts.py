"""seqsim.interrupts: a Ctrl-C inside the block waits for its end; compiles are such blocks."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest
from numba.extending import overload

from seqsim.engine.kernel_jit import compiled
from seqsim.interrupts import interrupts_deferred


@pytest.fixture(autouse=True)
def python_handler() -> Iterator[None]:
    """Python's own SIGINT handler for each test, and the previous one put back."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_held_ctrl_c_raises_when_the_block_ends() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        _ctrl_c()
        _ctrl_c()
        done.append("the rest of the block")
    assert done == ["the rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_previous_handler_gets_one_call() -> None:
    calls = []
    signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    with interrupts_deferred():
        _ctrl_c()
        assert calls == []
    assert calls == [signal.SIGINT]


def test_a_block_without_ctrl_c_changes_nothing() -> None:
    with interrupts_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_note_is_written_once(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyboardInterrupt), interrupts_deferred("seqsim: noted"):
        _ctrl_c()
        _ctrl_c()
    assert capfd.readouterr().err == "seqsim: noted\n"


def test_an_exception_in_the_block_still_delivers_the_ctrl_c() -> None:
    with pytest.raises(KeyboardInterrupt) as raised, interrupts_deferred():
        _ctrl_c()
        raise ValueError("inside")
    assert isinstance(raised.value.__context__, ValueError)


def test_an_ignored_sigint_stays_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with interrupts_deferred():
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        _ctrl_c()
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_other_threads_run_the_block_as_is() -> None:
    seen = []

    def run() -> None:
        with interrupts_deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def _poke() -> None:
    """Compiled code's call of this sends SIGINT while numba types its caller."""


@overload(_poke)
def _poke_while_typing():  # type: ignore[no-untyped-def]
    _ctrl_c()  # Python runs the handler here, in the middle of the compile
    return lambda: None


def test_a_ctrl_c_during_a_compile_waits_for_it() -> None:
    """Before, a KeyboardInterrupt raised inside numba's load or compile left
    llvmlite objects half made, and their cleanup crashed the process."""

    @compiled(cache=False)
    def plus_one(x: int) -> int:
        _poke()
        return x + 1

    with pytest.raises(KeyboardInterrupt):
        plus_one(1)
    assert len(plus_one.signatures) == 1  # the compile ran to its end
    assert plus_one(2) == 3
