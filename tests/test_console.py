"""What a user sees of `sparrow-tfx`: no library noise, progress while a run runs, failures in one message that
names the fix and a log file with the rest. `run` here fails in SampleGen, seconds after the pipeline starts."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest

from pipeline.datasets import synthetic
from tests.conftest import REPO_ROOT, run_cli
from tests.helpers.console import assert_quiet

LOG_LINE = re.compile(r"^\(full output and traceback: (\S+\.log)\)$", re.M)


def _raw_movielens(directory) -> str:
    synthetic.write_movielens(synthetic.generate_world(3000, seed=11), str(directory))
    return str(directory)


@pytest.mark.e2e
def test_a_failing_node_is_one_message_and_the_log_has_the_traceback(tmp_path):
    """A first run (no work dir yet) whose SampleGen fails: the log it began elsewhere is in the work dir."""
    raw = _raw_movielens(tmp_path / "raw")
    with open(os.path.join(raw, "movies.csv"), "w") as f:
        f.write("id,name\n1,x\n")
    result = run_cli("run", "--movielens", raw, "--work-dir", str(tmp_path / "work"), check=False)
    assert result.returncode == 1
    assert_quiet(result.stdout, result.stderr)
    error, where = result.stderr.rstrip("\n").split("\n")
    assert error.startswith(f"error: SampleGen failed: {raw}/movies.csv:1: expected the header "
                            "'movieId,title,genres', found 'id,name'")
    log = LOG_LINE.match(where).group(1)
    assert log.startswith(str(tmp_path / "work" / "logs"))
    with open(log) as f:
        assert "Traceback" in f.read()
    # Not a terminal: the progress is a plain line log.
    assert re.search(r"^\[0:\d\d\] SampleGen started \(\d+/11 nodes done\)$", result.stdout, re.M)
    assert re.search(r"^\[0:\d\d\] SampleGen failed in \d+\.\d s \(\d+/11 nodes done\)$", result.stdout, re.M)


def test_missing_file_is_one_line_before_the_pipeline_starts(tmp_path):
    raw = _raw_movielens(tmp_path / "raw")
    os.remove(os.path.join(raw, "movies.csv"))
    result = run_cli("run", "--movielens", raw, "--work-dir", str(tmp_path / "work"), check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"error: --movielens {raw}: no movies.csv there (a MovieLens directory has ratings.csv "
                             "and movies.csv; `sparrow-tfx download movielens` fetches one)\n")
    assert not (tmp_path / "work").exists()


def test_unknown_option_names_the_options():
    result = run_cli("run", "--sample-option", "max_rejected=3", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: --sample-option max_rejected: no such SampleGen option; the options are split_mode, ")
    assert_quiet(result.stdout, result.stderr)


@pytest.mark.e2e
def test_e2e_run_shows_progress_and_no_noise(e2e_run):
    assert_quiet(e2e_run.stdout, e2e_run.stderr)
    for node in ("SampleGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert re.search(rf"^\[\d+:\d\d\] {node} started \(\d+/11 nodes done\)$", e2e_run.stdout, re.M), node
        assert re.search(rf"^\[\d+:\d\d\] {node} done in \d+\.\d s \(\d+/11 nodes done\)$", e2e_run.stdout, re.M)
    assert "(10/11 nodes done)" in e2e_run.stdout


class Tmux:
    """A detached tmux server of its own, one window of a fixed size; the screen as the user would see it."""

    def __init__(self, socket: str, command: str, width: int = 140, height: int = 45):
        self.socket = socket
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "-c", REPO_ROOT, command)
        self._tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True,
                              text=True).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-t", "t")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_make_run_screen_shows_progress_then_the_fix(tmp_path):
    """`make run` in a real terminal on raw data with a stray row and a rating time in milliseconds."""
    raw = _raw_movielens(tmp_path / "raw")
    ratings = os.path.join(raw, "ratings.csv")
    with open(ratings) as f:
        lines = sum(1 for _ in f)
    with open(ratings, "a") as f:
        f.write("1,2,3\n7,5,4.0,1400000000000\n")
    work = tmp_path / "work"
    tmux = Tmux(f"sparrow-test-{os.getpid()}", f"make run RUN_ARGS='--movielens {raw} --work-dir {work}'; "
                                                "echo EXIT=$?")
    screens = []
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and "EXIT=" not in (screens or [""])[-1]:
            screens.append(tmux.screen())
            time.sleep(0.2)
    finally:
        tmux.close()
    final = screens[-1]
    print(final)
    assert "EXIT=2" in final  # make's own exit code for a failed recipe
    assert any(re.search(r"SampleGen \d+ s · \d+/11 nodes done · elapsed 0:\d\d", screen) for screen in screens)
    # ImportSchemaGen, SampleGen's only sibling, may or may not finish before SampleGen fails: either way the
    # failure's count follows the steps shown done.
    done = re.findall(r"✓ (\w+) +done in +\d+\.\d s", final)
    assert set(done) <= {"ImportSchemaGen"}
    assert re.search(rf"✗ SampleGen +failed in +\d+\.\d s  \({len(done) + 1}/11\)", final)
    assert ("SampleGen: 2 malformed input rows (implausible_timestamp: 1, wrong_column_count: 1), more than "
            "max_rejected_rows=0; the first:") in final
    assert f"{ratings}:{lines + 1}: expected 4 columns (userId,movieId,rating,timestamp), found 3: '1,2,3'" in final
    assert (f"{ratings}:{lines + 2}: timestamp 1400000000000 (year 46334) is after the plausible range "
            "1995-01-01..") in final
    assert "--sample-option max_rejected_rows=N" in final
    kept = re.search(r"all of them: (\S+)", final).group(1)
    assert len([line for name in os.listdir(kept) for line in open(os.path.join(kept, name))]) == 2
    assert os.path.exists(LOG_LINE.search(final).group(1))
    assert_quiet(*screens)


def test_generate_shows_its_steps_off_a_terminal(tmp_path):
    result = run_cli("generate", "--output", str(tmp_path), "--size", "1500")
    for done, step in enumerate(synthetic.GENERATE_STEPS, start=1):
        assert re.search(rf"^\[0:\d\d\] {step} started \({done - 1}/3 steps done\)$", result.stdout, re.M), step
        assert re.search(rf"^\[0:\d\d\] {step} done in \d+\.\d s \({done}/3 steps done\)$", result.stdout, re.M)
    assert result.stdout.splitlines()[-1].startswith(f"wrote {tmp_path}: samples train=")
    assert_quiet(result.stdout, result.stderr)
