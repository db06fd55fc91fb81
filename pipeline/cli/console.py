"""What a user sees: this project's own output on the terminal, everything else in a log file under the work dir.

TensorFlow's C++ logging (CUDA factory registration on a machine without a GPU), absl, Beam and Google's clients
(`FutureWarning`s about Python 3.10) write to the process's stderr, some before any Python filter exists and some
from child processes. So quiet mode points file descriptors 1 and 2 at the log file, which the side-branch worker
and Beam's workers inherit, and gives `sys.stdout` / `sys.stderr` new streams on the terminal. On the terminal:
what the commands print, this project's own warnings (logged from pipeline/, components/, bench/) and errors.
A command that has not made its work dir yet (a first run, or one that fails on its arguments) logs to a temporary
directory, and the log moves under the work dir once the command has made it, so a refused command creates nothing.
"""
from __future__ import annotations

import atexit
import datetime
import logging
import os
import shutil
import sys
import tempfile
import traceback
import warnings
from typing import Optional

from pipeline import configs

LOG_DIR = "logs"  # under the work dir
LOGS_KEPT = 20  # the newest log files of earlier commands kept beside the new one
_OWN_PACKAGES = tuple(os.path.join(configs.PROJECT_ROOT, package) + os.sep
                      for package in ("pipeline", "components", "bench"))
_log_path: Optional[str] = None
_log_fd: Optional[int] = None
_pending_work_dir: Optional[str] = None  # where the log moves once the command has made this work dir


def where_logged() -> str:
    """A sentence for an error message: where the full output and traceback are, '' when they were shown."""
    _settle()
    return f"(full output and traceback: {_log_path})" if _log_path else ""


def is_own(record: logging.LogRecord) -> bool:
    """Whether this project logged it (our modules log through the root logger, as TFX does)."""
    return record.pathname.startswith(_OWN_PACKAGES)


LOG_ONLY = "sparrow-tfx.log-only"  # a logger whose records go to the log file only (tracebacks of failures)


def _own_warnings(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING and is_own(record) and record.name != LOG_ONLY


def quiet_in_notebook() -> None:
    """For a notebook, before TensorFlow loads: no start-up lines from TF's C++ (CUDA probing on a CPU machine),
    no Google client FutureWarnings, no deprecation notices from TF and TFMA; errors still show.
    SPARROW_TFX_VERBOSE=1 keeps them all."""
    if os.environ.get("SPARROW_TFX_VERBOSE"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    import tensorflow as tf  # its logger, made now: made later, it would set itself to INFO in a notebook

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


def verbose() -> None:
    """`-v`: every library's logs and warnings on stderr, as they come."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


def quiet(command: str, work_dir: str = configs.DEFAULT_WORK_DIR) -> Optional[str]:
    """Libraries' output to `<work_dir>/logs/<command>-<time>.log`; returns its path. Only for a process whose
    sys.stdout and sys.stderr are still its own (a command run by `main` inside a host that redirected them, such as
    pytest's capture or a notebook, keeps the host's streams and file descriptors)."""
    global _log_path, _log_fd, _pending_work_dir
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__:
        return None
    work_dir = os.path.abspath(work_dir)
    directory = _log_dir(work_dir)
    if directory is None:
        directory, _pending_work_dir = tempfile.mkdtemp(prefix="sparrow-tfx-log-"), work_dir
        atexit.register(_settle)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    _log_path = os.path.join(directory, f"{command}-{stamp}-{os.getpid()}.log")
    _log_fd = log_fd = os.open(_log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    terminal_out, terminal_err = os.dup(1), os.dup(2)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    sys.stdout = _text_stream(terminal_out, sys.stdout)
    sys.stderr = _text_stream(terminal_err, sys.stderr)
    log = _text_stream(log_fd, sys.__stderr__)

    to_log = logging.StreamHandler(log)
    to_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setFormatter(logging.Formatter("warning: %(message)s"))
    to_terminal.addFilter(_own_warnings)
    logging.basicConfig(level=logging.INFO, handlers=[to_log, to_terminal], force=True)
    logging.captureWarnings(True)  # Python warnings as log records: to the log file, not the terminal
    warnings.simplefilter("default")
    sys.unraisablehook = lambda unraisable: _log_unraisable(log, unraisable)  # e.g. TF's __del__ at shutdown
    return _log_path


def _log_dir(work_dir: str) -> Optional[str]:
    """<work_dir>/logs, made if need be; None while the work dir does not exist or cannot hold it."""
    if not os.path.isdir(work_dir):
        return None
    directory = os.path.join(work_dir, LOG_DIR)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    _prune(directory)
    return directory


def _settle() -> None:
    """Moves a log begun in a temporary directory under the work dir, once the command has made the work dir."""
    global _log_path, _pending_work_dir
    directory = _log_dir(_pending_work_dir) if _pending_work_dir else None
    if directory is None:
        return
    target = os.path.join(directory, os.path.basename(_log_path))
    for stream in (sys.stdout, sys.stderr, *(h.stream for h in logging.getLogger().handlers
                                            if isinstance(h, logging.StreamHandler))):
        stream.flush()
    shutil.copyfile(_log_path, target)
    moved = os.open(target, os.O_WRONLY | os.O_APPEND)
    for fd in (1, 2, _log_fd):  # fds 1/2 and the log handler's stream now write to the moved file
        os.dup2(moved, fd)
    os.close(moved)
    shutil.rmtree(os.path.dirname(_log_path), ignore_errors=True)
    _log_path, _pending_work_dir = target, None


def log_failure(error: BaseException) -> None:
    """The traceback of a failure the command reports in one line, to the log file (stderr with `-v`)."""
    logging.getLogger(LOG_ONLY).error("%s: %s", type(error).__name__, error, exc_info=error)


def _text_stream(fd: int, like):
    return os.fdopen(fd, "w", buffering=1, encoding=getattr(like, "encoding", None) or "utf-8",
                     errors=getattr(like, "errors", None) or "backslashreplace")


def _log_unraisable(log, unraisable) -> None:
    log.write(f"unraisable exception in {unraisable.object!r}:\n")
    traceback.print_exception(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback, file=log)


def _prune(directory: str) -> None:
    logs = sorted((entry for entry in os.scandir(directory) if entry.name.endswith(".log")),
                  key=lambda entry: entry.stat().st_mtime)
    for entry in logs[:max(0, len(logs) - LOGS_KEPT)]:
        os.remove(entry.path)
