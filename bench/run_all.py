"""Every benchmark at its default size, one after the other (`make bench`), each timed.

    python -m bench.run_all                    # all of them; each writes its own bench/results/<name>.json
    python -m bench.run_all bench_serving      # only the ones named
    python -m bench.run_all --list             # the benchmarks and how long each took when last run here

A benchmark is a module bench/bench_<name>.py with a command line; its docstring says what it measures. Each runs
in its own process; its wall time, exit status, date and load average go to bench/results/run_all.json (merged:
running one benchmark keeps the others' times). A benchmark whose shared data is absent is skipped, not failed.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from bench import common

RUN_TIMES = common.RESULTS_DIR / "run_all.json"
SUMMARY_WIDTH = 100
SERVING_WORK_DIR = os.path.join(common.REPO_ROOT, ".work", "bench-serving")


def _pushed_ml_run() -> str:
    """The work dir of a run on ml-latest-small-2015 with a pushed model (.work/bench-serving), run once when absent:
    the model bench_serving times and bench_catalogue ranks with, as bench/README.md's figures were measured."""
    from pipeline import configs
    from recommender import serving_dir

    serving = configs.LocalPaths(SERVING_WORK_DIR).serving_dir
    if serving_dir.latest_version_dir(serving) is None:
        movielens = str(common.shared_data("ml-latest-small-2015"))
        print(f"pushing a model: sparrow-tfx run --movielens {movielens} --work-dir {SERVING_WORK_DIR}", flush=True)
        subprocess.run([sys.executable, "-m", "pipeline.cli.main", "run", "--movielens", movielens,
                        "--work-dir", SERVING_WORK_DIR], check=True, cwd=common.REPO_ROOT)
    return SERVING_WORK_DIR


def _serving_args() -> List[str]:
    from pipeline import configs
    return ["--model", configs.LocalPaths(_pushed_ml_run()).serving_dir]


def _export_args() -> List[str]:
    return ["--from-run", _pushed_ml_run(), "--name", "export-ml-latest-small-2015"]


def _serve_args() -> List[str]:
    """bench_serve loads the server with the same pushed run (it publishes the version into a scratch directory)."""
    return ["--work-dir", _pushed_ml_run()]


def _evaluator_args() -> List[str]:
    return ["--from-run", _pushed_ml_run(), "--breakdown", "--name", "evaluator-ml-latest-small-2015"]


def _catalogue_args() -> List[str]:
    return ["--work-dir", _pushed_ml_run(), "--min-liked", "5", "--name", "catalogue-ml-latest-small-2015-global_time"]


@dataclasses.dataclass(frozen=True)
class Benchmark:
    module: str
    needs: Tuple[str, ...] = ()  # ../shared/data paths without which it cannot run
    args: Callable[[], List[str]] = list  # its command line at the default size, prepared when it runs

    @property
    def summary(self) -> str:
        """The first sentence of the module's docstring, read without importing it (TensorFlow would load)."""
        source = (common.REPO_ROOT / "bench" / f"{self.module}.py").read_text()
        paragraph = " ".join((ast.get_docstring(ast.parse(source)) or "").split("\n\n")[0].split())
        sentence = paragraph.split(". ")[0].rstrip(".")
        return sentence if len(sentence) <= SUMMARY_WIDTH else sentence[:SUMMARY_WIDTH].rsplit(" ", 1)[0] + " ..."

    def missing_data(self) -> Optional[str]:
        missing = [path for path in self.needs if common.shared_data(*path.split("/")) is None]
        return f"no ../shared/data/{missing[0]}" if missing else None


BENCHMARKS = (
    Benchmark("bench_sample_gen"),  # generated ratings, and ml-latest-small-2015 where present
    Benchmark("bench_model", needs=("sparrowrecsys/split",)),
    Benchmark("bench_pipeline", needs=("sparrowrecsys/split",)),
    Benchmark("bench_serving", needs=("ml-latest-small-2015",), args=_serving_args),
    Benchmark("bench_serve", needs=("ml-latest-small-2015",), args=_serve_args),
    Benchmark("bench_catalogue", needs=("ml-latest-small-2015",), args=_catalogue_args),
    Benchmark("bench_export", needs=("ml-latest-small-2015",), args=_export_args),
    Benchmark("bench_evaluator", needs=("ml-latest-small-2015",), args=_evaluator_args),
    Benchmark("bench_replay", needs=("ml-latest-small-2015",)),  # the loop over its last two years
    Benchmark("bench_drift"),  # generated data, and ml-latest-small-2015 where present
    Benchmark("bench_cold_start"),  # generated data, and ml-latest-small-2015 where present
    Benchmark("bench_will_rate"),  # generated data, and ml-latest-small-2015 where present
    Benchmark("bench_generated_world"),  # the generated world's baselines beside ml-latest-small-2015's
)
BY_MODULE = {b.module: b for b in BENCHMARKS}


def run(benchmark: Benchmark) -> Dict[str, object]:
    """Runs one benchmark in its own process, its output on ours; its status and wall time."""
    started = time.monotonic()
    skipped = benchmark.missing_data()
    if skipped:
        status = f"skipped: {skipped}"
    else:
        try:
            command = [sys.executable, "-m", f"bench.{benchmark.module}", *benchmark.args()]
            print(f"== {' '.join(command[1:])}", flush=True)
            code = subprocess.run(command, cwd=common.REPO_ROOT).returncode
            status = "ok" if code == 0 else f"failed: exit {code}"
        except subprocess.CalledProcessError as error:
            status = f"failed preparing: exit {error.returncode}"
    return {"status": status, "seconds": round(time.monotonic() - started, 1),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def recorded() -> Dict[str, Dict[str, object]]:
    """The last run of each benchmark through run_all, by module."""
    return json.loads(RUN_TIMES.read_text())["benchmarks"] if RUN_TIMES.exists() else {}


def listing(times: Dict[str, Dict[str, object]]) -> str:
    rows = [("benchmark", "last run", "status", "when", "measures")]
    for benchmark in BENCHMARKS:
        last = times.get(benchmark.module)
        if last is None:
            rows.append((benchmark.module, "-", "not run by run_all yet", "-", benchmark.summary))
        else:
            rows.append((benchmark.module, _duration(last["seconds"]), str(last["status"]),
                         f"{last['date']} load {last['loadavg_1m']}", benchmark.summary))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]) for row in rows)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n")[0])
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK", help=f"default: all ({', '.join(BY_MODULE)})")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their last run times")
    args = parser.parse_args(argv)
    unknown = [name for name in args.benchmarks if name not in BY_MODULE]
    if unknown:
        parser.error(f"no benchmark {unknown[0]}; the benchmarks are {', '.join(BY_MODULE)}")
    if args.list:
        print(listing(recorded()))
        return 0

    times, chosen = recorded(), args.benchmarks or list(BY_MODULE)
    for module in chosen:
        times[module] = run(BY_MODULE[module])
        print(f"== {module}: {times[module]['status']} in {_duration(times[module]['seconds'])}", flush=True)
        # Written after each one: an interrupted `make bench` keeps the times it measured.
        common.write_results("run_all", {"benchmarks": times})
    print(listing(times))
    return 0 if all(not str(times[m]["status"]).startswith("failed") for m in chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
