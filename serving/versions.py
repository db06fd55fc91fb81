"""The version a server answers with, and the watcher that swaps in each new committed version.

Only committed versions are seen (recommender/serving_dir.py: a version appears whole, with its commit marker).
The newest is loaded fully beside the one serving (model, feature snapshot, serving policy, every user indexed, the
candidate table and the will-rate estimate built) and warmed with real requests, then one reference is replaced:
a request takes the reference once and answers from that version to the end, so none fails or waits during a swap,
and the old version is freed when the last request holding it ends. A version that fails to load is reported and
skipped (the one serving stays) until a newer one is committed.
"""
from __future__ import annotations

import ctypes
import dataclasses
import gc
import logging
import os
import threading
import time
import weakref
from typing import Callable, Optional, Set

from recommender import serve, serving_dir

log = logging.getLogger("sparrow_tfx.serve")
WARM_NEW_USER = -1  # no snapshot has it: the warm-up's request on the path of users without ratings


@dataclasses.dataclass(frozen=True)
class Loaded:
    served: serve.ServedVersion
    load_seconds: float  # loading and warming, before the swap
    committed_at: Optional[float]  # the commit marker's time (Unix), where the version has one
    swapped_at: float  # Unix time


def warm(served: serve.ServedVersion) -> None:
    """Builds what every request uses and runs each kind once: a user with ratings (the model path), one without
    (the cold-start path) and a /score call, so that the first request after a swap is as fast as the rest."""
    served.index_users()
    _ = served.candidates, served.will_rate_estimator
    known = next(iter(served.users), None)
    for user_id in ([known] if known is not None else []) + [WARM_NEW_USER]:
        try:
            serve.recommend(served, user_id, 10, repeat=False)
        except ValueError:  # a user who rated every movie: nothing left to rank
            pass
    if served.movies:
        serve.candidate_outputs(served, WARM_NEW_USER, {}, sorted(served.movies)[:10])


def commit_time(version_dir: str) -> Optional[float]:
    marker = os.path.join(version_dir, serving_dir.COMMIT_FILE)
    try:
        return os.stat(marker).st_mtime if not serving_dir.is_object_store(version_dir) else None
    except OSError:
        return None


class VersionWatcher:
    """Polls base_dir every poll_seconds in a thread of its own; `current` is what requests answer with."""

    def __init__(self, base_dir: str, poll_seconds: float = 1.0,
                 on_loaded: Callable[[Loaded, Optional[Loaded]], None] = lambda new, old: None,
                 on_failed: Callable[[str], None] = lambda reason: None):
        self.base_dir, self.poll_seconds = base_dir, poll_seconds
        self.current: Optional[Loaded] = None
        self.status = f"no committed version under {base_dir} yet"  # why not ready, while current is None
        self._failed: Set[str] = set()
        self._releasing: Optional[weakref.ref] = None  # the version swapped out, until it is collected
        self._on_loaded, self._on_failed = on_loaded, on_failed
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="version-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            try:
                self.check()
            except Exception as error:  # a transient listing failure (an object store): try again next poll
                log.warning("could not check %s for a new version: %s: %s", self.base_dir, type(error).__name__,
                            error)
            if self._stop.wait(self.poll_seconds):
                return

    def check(self) -> bool:
        """Loads and swaps in the newest committed version if it is not the one serving; True if it swapped."""
        self._release_old()
        latest = serving_dir.latest_version_dir(self.base_dir)
        current = self.current
        if latest is None or latest in self._failed or (current and current.served.version_dir == latest):
            return False
        started = time.perf_counter()
        if current is None:
            self.status = f"loading version {os.path.basename(latest)}"
        try:
            served = serve.ServedVersion.load(latest)
            warm(served)
        except Exception as error:  # a snapshot or policy in a format this code does not read, a broken model
            self._failed.add(latest)
            reason = f"version {os.path.basename(latest)} failed to load: {type(error).__name__}: {error}"
            if current is None:
                self.status = reason
            reason += (f"; still serving version {current.served.version}" if current else
                       "; nothing to serve until a newer version is committed")
            log.warning("%s", reason)
            self._on_failed(reason)
            return False
        loaded = Loaded(served, time.perf_counter() - started, commit_time(latest), time.time())
        self.current = loaded  # the swap: one reference; requests that took the old one finish with it
        self._on_loaded(loaded, current)
        if current is not None:
            self._releasing = weakref.ref(current.served)
        del current
        self._release_old()
        return True

    def _release_old(self) -> None:
        """Once the requests that took the swapped-out version have ended (a poll or two later), collects it (its
        model's objects have reference cycles, which only a collection frees) and returns the memory it freed to the
        system: a process keeps freed memory otherwise, a whole version's worth (~130 MB on ml-latest-small-2015)."""
        if self._releasing is None:
            return
        gc.collect()
        if self._releasing() is None:
            self._releasing = None
            release_freed_memory()


def release_freed_memory() -> None:
    """Returns freed memory at the top of the heap and in whole free pages to the system (glibc's malloc_trim)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
