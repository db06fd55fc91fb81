"""Two `sparrow-tfx run`s started at once on one work dir: one runs, the other refuses in one line naming it;
once the holder is gone (killed, here) the work dir is free again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.runners import work_dir_lock
from tests.conftest import REPO_ROOT


def start_run(work_dir: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipeline.cli.main", "run", "--work-dir", work_dir, "--size", "3000"]
    return subprocess.Popen(command,
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.mark.slow
def test_second_run_refuses_naming_the_holder(tmp_path):
    work_dir = str(tmp_path / "work")
    runs = [start_run(work_dir), start_run(work_dir)]
    try:
        deadline = time.monotonic() + 300
        while all(run.poll() is None for run in runs) and time.monotonic() < deadline:
            time.sleep(0.2)
        refused = next(run for run in runs if run.poll() is not None)
        holder = next(run for run in runs if run is not refused)
        assert holder.poll() is None, "both runs ended: neither held the lock while the other started"
        stderr = refused.stderr.read()
        assert refused.returncode == 1 and "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1].startswith(f"error: {work_dir} is in use by `sparrow-tfx run` "
                                                          f"(pid {holder.pid} on ")
    finally:
        for run in runs:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    with work_dir_lock.hold(work_dir):  # the killed holder left no stale lock
        pass
