"""One `run` per work directory: the second refuses in one line naming the holder.

Two runs on one work dir share ML Metadata, the pipeline root and the serving directory: both would train and
push, and each would read the other's executions as its own. The lock is an flock on a file in the work dir, so
the kernel drops it when the holder exits, however it exits: a killed run leaves no stale lock.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
import time

LOCK_FILE = ".run.lock"


class WorkDirBusy(RuntimeError):
    """Another run holds the work directory; the message names it."""


@contextlib.contextmanager
def hold(work_dir: str):
    path = os.path.join(work_dir, LOCK_FILE)
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(lock)
            raise WorkDirBusy(f"{work_dir} is in use by {holder}; wait for it to finish or use another "
                              "--work-dir") from None
        lock.truncate(0)
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        lock.write(f"`sparrow-tfx run` (pid {os.getpid()} on {socket.gethostname()}, since {started})")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)


def _holder(lock) -> str:
    """The holder's line; it writes it just after taking the lock, so a run started at the same moment waits a
    little for it."""
    for _ in range(50):
        lock.seek(0)
        holder = lock.read().strip()
        if holder:
            return holder
        time.sleep(0.02)
    return "another process"
