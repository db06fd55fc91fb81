"""What a long command is doing while it runs: the step now running, elapsed time, steps done of all.

On a terminal a live status line (rich) under a line per finished step; otherwise (CI, `| tee`, a file) one plain
line when a step starts and one when it ends, so that a log shows where a run was when it stopped.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Callable, ContextManager, Dict, Iterator, Optional, TextIO

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes:d}:{seconds:02d}"


class Progress:
    """Steps (pipeline nodes) starting and finishing, possibly several at once and from several threads."""

    def __init__(self, total: int, stream: TextIO, what: str = "nodes", live: Optional[bool] = None):
        self.total = total
        self._what = what
        self._console = Console(file=stream, highlight=False, soft_wrap=True)
        self._live = self._console.is_terminal if live is None else live
        self._started = time.monotonic()
        self._running: Dict[str, float] = {}  # step -> when it started
        self._done = 0
        self._lock = threading.Lock()
        self._spinner = Spinner("dots")
        self._display: Optional[Live] = None

    def __enter__(self) -> "Progress":
        if self._live:
            self._display = Live(console=self._console, get_renderable=self._status, refresh_per_second=4,
                                 transient=True, redirect_stdout=False, redirect_stderr=False)
            self._display.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._display:
            self._display.stop()

    def started(self, step: str) -> None:
        with self._lock:
            self._running[step] = time.monotonic()
            if not self._live:
                self._line(f"{step} started ({self._done}/{self.total} {self._what} done)")

    def finished(self, step: str, failed: bool = False) -> None:
        with self._lock:
            seconds = time.monotonic() - self._running.pop(step, time.monotonic())
            self._done += 1
            outcome = "failed" if failed else "done"
            if self._live:
                self._console.print(f"  {'✗' if failed else '✓'} {step:<18} {outcome} in {seconds:5.1f} s  "
                                    f"({self._done}/{self.total})")
            else:
                self._line(f"{step} {outcome} in {seconds:.1f} s ({self._done}/{self.total} {self._what} done)")

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A step of this thread: started on entry, done (or failed, re-raising) on exit."""
        self.started(name)
        try:
            yield
        except BaseException:
            self.finished(name, failed=True)
            raise
        self.finished(name)

    def _line(self, text: str) -> None:
        self._console.print(f"[{_clock(time.monotonic() - self._started)}] {text}", markup=False)

    def _status(self):
        with self._lock:
            now = time.monotonic()
            running = ", ".join(f"{step} {now - since:.0f} s" for step, since in self._running.items())
            status = Text(f" {running or 'starting'} · {self._done}/{self.total} {self._what} done · "
                          f"elapsed {_clock(now - self._started)}")
        self._spinner.text = status
        return self._spinner


Step = Callable[[str], ContextManager[None]]  # a command's step(name): what a long library call reports through


def no_step(name: str) -> ContextManager[None]:
    return contextlib.nullcontext()


def command_steps(total: int, verbose: bool = False) -> Progress:
    """Progress of a command's own steps on stdout (the plain line log with -v, where library logs interleave)."""
    return Progress(total, sys.stdout, what="steps", live=False if verbose else None)
