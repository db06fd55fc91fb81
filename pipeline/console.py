"""What a user sees: this project's own output on the terminal, everything else in a log file under the work dir.

TensorFlow's C++ logging (CUDA factory registration on a machine without a GPU), absl, Beam and Google's clients
(`FutureWarning`s about Python 3.10) write to the process's stderr, some before any Python filter exists and some
from child processes. So quiet mode points file descriptors 1 and 2 at the log file, which the side-branch worker
and Beam's workers inherit, and gives `sys.stdout` / `sys.stderr` new streams on the terminal. On the terminal:
what the commands print, this project's own warnings (logged from pipeline/, components/, bench/) and errors.
"""
from __future__ import annotations

import datetime
import logging
import os
import sys
import traceback
import warnings
from typing import Optional

from pipeline import configs

LOG_DIR = "logs"  # under the work dir
LOGS_KEPT = 20  # the newest log files of earlier commands kept beside the new one
_OWN_PACKAGES = tuple(os.path.join(configs.PROJECT_ROOT, package) + os.sep
                      for package in ("pipeline", "components", "bench"))
_log_path: Optional[str] = None


def log_path() -> Optional[str]:
    """The log file of this command, None when everything goes to the terminal (`-v`)."""
    return _log_path


def where_logged() -> str:
    """A sentence for an error message: where the full output and traceback are, '' when they were shown."""
    return f"(full output and traceback: {_log_path})" if _log_path else ""


def is_own(record: logging.LogRecord) -> bool:
    """Whether this project logged it (our modules log through the root logger, as TFX does)."""
    return record.pathname.startswith(_OWN_PACKAGES)


LOG_ONLY = "sparrow-tfx.log-only"  # a logger whose records go to the log file only (tracebacks of failures)


def _own_warnings(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING and is_own(record) and record.name != LOG_ONLY


def verbose() -> None:
    """`-v`: every library's logs and warnings on stderr, as they come."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


def quiet(command: str, work_dir: str = configs.DEFAULT_WORK_DIR) -> Optional[str]:
    """Libraries' output to `<work_dir>/logs/<command>-<time>.log`; returns its path. Only for a process whose
    sys.stdout and sys.stderr are still its own (a command run by `main` inside a host that redirected them, such as
    pytest's capture or a notebook, keeps the host's streams and file descriptors)."""
    global _log_path
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__:
        return None
    directory = os.path.join(os.path.abspath(work_dir), LOG_DIR)
    os.makedirs(directory, exist_ok=True)
    _prune(directory)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    _log_path = os.path.join(directory, f"{command}-{stamp}-{os.getpid()}.log")
    log_fd = os.open(_log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
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
