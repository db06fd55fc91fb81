"""bench/bench_pipeline.py reads what `sparrow-tfx run` prints: its parser against the real summary lines."""
import subprocess
import sys
from pathlib import Path

import pytest

from bench import bench_pipeline
from pipeline.report import summary


def _printed(states, pushed: bool) -> str:
    run = summary.RunSummary(
        run_id="r", states={n: s for n, (s, _) in states.items()}, seconds={n: t for n, (_, t) in states.items()},
        blessed=True, metrics={}, pushed_dir="/serving/1", newly_pushed=pushed)
    return "\n".join(run.lines())


def test_component_times_and_push_are_read_from_a_run_summary(tmp_path):
    printed = _printed({"Transform": ("COMPLETE", 21.5), "Trainer": ("COMPLETE", 9.0)}, pushed=True)
    script = tmp_path / "fake_run.py"
    script.write_text(f"print({printed!r})\n")
    result = bench_pipeline.measure([sys.executable, str(script)], tmp_path)
    assert result["components"] == {"Transform": {"state": "COMPLETE", "seconds": 21.5},
                                    "Trainer": {"state": "COMPLETE", "seconds": 9.0}}
    assert result["trained"] and result["pushed"]
    assert result["peak_rss_mb"] > 0


def test_a_cached_rerun_neither_trains_nor_pushes(tmp_path):
    script = tmp_path / "fake_run.py"
    script.write_text(f"print({_printed({'Trainer': ('CACHED', 0.1)}, pushed=False)!r})\n")
    result = bench_pipeline.measure([sys.executable, str(script)], tmp_path)
    assert not result["trained"] and not result["pushed"]


def test_a_failed_run_stops_the_benchmark_with_its_error(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys; sys.exit('no data here')\n")
    with pytest.raises(RuntimeError, match="no data here"):
        bench_pipeline.measure([sys.executable, str(script)], tmp_path)


def test_the_no_bytecode_rerun_compiles_every_module_from_source(tmp_path):
    env = bench_pipeline.without_bytecode(tmp_path)
    script = "import importlib.util, json; print(json.__cached__, importlib.util.cache_from_source(json.__file__))"
    cached, expected = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                      check=True).stdout.split()
    assert cached == expected and cached.startswith(env["PYTHONPYCACHEPREFIX"])  # not the installed __pycache__
    assert not any(Path(env["PYTHONPYCACHEPREFIX"]).rglob("*.pyc"))  # and nothing was written there


def test_memory_is_sampled_while_the_process_runs_and_attributed_to_component_windows(tmp_path):
    grow = "import time; blocks = []\nfor _ in range(8): blocks.append(bytearray(32 << 20)); time.sleep(0.1)\n"
    process = subprocess.Popen([sys.executable, "-c", grow])
    sampler = bench_pipeline.RssSampler(process.pid, interval=0.02)
    sampler.start()
    process.wait()
    sampler.stop()
    assert max(mb for _, mb in sampler.samples) > 200  # 8 x 32 MB were resident at the end
    (first_ms, _), (last_ms, _) = sampler.samples[0], sampler.samples[-1]
    peaks = bench_pipeline.component_peaks(sampler.samples, {"early": (first_ms, first_ms + 150),
                                                              "whole": (first_ms, last_ms),
                                                              "after": (last_ms + 1, last_ms + 1000)})
    assert peaks["early"] < peaks["whole"] and peaks["after"] is None


def test_memory_of_child_processes_is_counted_with_the_parent(tmp_path):
    child = "import time; block = bytearray(256 << 20); time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    process = subprocess.Popen([sys.executable, "-c", parent])
    sampler = bench_pipeline.RssSampler(process.pid, interval=0.05)
    sampler.start()
    process.wait()
    sampler.stop()
    assert max(mb for _, mb in sampler.samples) > 256  # the parent alone stays far below
