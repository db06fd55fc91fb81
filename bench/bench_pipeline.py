"""The whole local pipeline (`sparrow-tfx run`, direct runner): wall time, peak memory, time per component.

    python -m bench.bench_pipeline                          # sparrow split: cold run and re-run, ours vs. previous
    python -m bench.bench_pipeline --scale 100000 1000000   # generated ratings through the whole pipeline

The reference is this project at an earlier commit (`--reference-commit`, default: the last one before the
performance work), checked out into a temporary git worktree and run with the same interpreter, data and flags.
Every run is a fresh process in a fresh work dir (cold); each re-run repeats a cold run in the same work dir.
Ours is re-run once more with every module compiled from source, as the environment was before `make setup`
compiled bytecode (uv installs without it, and where PYTHONDONTWRITEBYTECODE is set nothing caches it).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

from bench import common

PROJECT = "sparrow-tfx"
REFERENCE = "previous"
RERUN = " re-run"  # suffix of a system's re-run with nothing changed
FROM_SOURCE = f"{PROJECT} re-run, no bytecode"  # as installed before `make setup` compiled bytecode
DEFAULT_REFERENCE_COMMIT = "d9342a0"  # 2026-11-29, before the Evaluator, Transform and Trainer speed-ups
_COMPONENT_LINE = re.compile(r"^  (\w+)\s+(COMPLETE|CACHED|FAILED|RUNNING|SKIPPED)\s+([\d.]+) s$", re.MULTILINE)
_PUSH_LINE = re.compile(r"^serving model: .*\((pushed|already serving, not pushed again)\)$", re.MULTILINE)


def _descendants(pid: int) -> List[int]:
    """pid's child processes and theirs (Linux /proc), e.g. the local runner's side-branch worker."""
    try:
        children = [int(c) for task in os.listdir(f"/proc/{pid}/task")
                    for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:  # exited meanwhile
        return []
    return children + [d for child in children for d in _descendants(child)]


def _rss_mb(pid: int) -> Optional[float]:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):  # exited (or a zombie without memory)
        return None


class RssSampler(threading.Thread):
    """Resident memory of a process and its descendants together every `interval` seconds, as (epoch ms, MB),
    until the process exits."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            own = _rss_mb(self.pid)
            if own is None:
                return
            descendants = (_rss_mb(child) for child in _descendants(self.pid))
            self.samples.append((time.time() * 1000, own + sum(mb for mb in descendants if mb)))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def component_peaks(samples: Sequence[tuple], windows: Mapping[str, tuple]) -> Dict[str, Optional[int]]:
    """The highest sampled RSS (MB) within each component's (start ms, end ms); None if no sample fell in it."""
    peaks = {}
    for name, (start_ms, end_ms) in windows.items():
        inside = [mb for at, mb in samples if start_ms <= at <= end_ms]
        peaks[name] = round(max(inside)) if inside else None
    return peaks


def _component_windows(work_dir: Path) -> Dict[str, tuple]:
    from pipeline import configs
    from pipeline.report import metadata  # ML Metadata's reader, only once a run has written its store
    record = metadata.latest_run(str(work_dir / "metadata.sqlite"), configs.PIPELINE_NAME)
    return {n.node_id: (n.start_ms, n.end_ms) for n in record.nodes.values()} if record else {}


def measure(command: Sequence[str], cwd: Path, env: Optional[Dict[str, str]] = None,
            work_dir: Optional[Path] = None) -> Dict[str, object]:
    """Runs one `sparrow-tfx run` process; its wall time, peak RSS (overall and, given the run's work_dir, during
    each component) and what its summary printed."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        sampler = RssSampler(process.pid)
        sampler.start()
        # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would be the maximum over every child so far).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-3000:]}")
    components = {name: {"state": state, "seconds": float(seconds)}
                  for name, state, seconds in _COMPONENT_LINE.findall(stdout)}
    if work_dir is not None:
        for name, peak in component_peaks(sampler.samples, _component_windows(work_dir)).items():
            components.setdefault(name, {})["peak_rss_mb"] = peak
    pushed = _PUSH_LINE.search(stdout)
    return {
        "wall_s": round(wall, 1),
        # The process's own peak, or more while a worker process ran beside it (sampled, so a lower bound).
        "peak_rss_mb": round(max([usage.ru_maxrss / 1024] + [mb for _, mb in sampler.samples])),
        "components": components,
        "trained": components.get("Trainer", {}).get("state") == "COMPLETE",
        "pushed": bool(pushed) and pushed.group(1) == "pushed",
    }


@contextlib.contextmanager
def reference_checkout(commit: str) -> Iterator[Path]:
    """This repository at `commit` in a temporary git worktree."""
    with tempfile.TemporaryDirectory(prefix="bench-reference-") as parent:
        path = Path(parent) / "checkout"
        subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=common.REPO_ROOT, check=True,
                       capture_output=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=common.REPO_ROOT,
                           capture_output=True)


def run_command(*args: str) -> List[str]:
    return [sys.executable, "-m", "pipeline.cli.main", "run", *args]


def checkout_env(checkout: Path) -> Dict[str, str]:
    """The checkout's packages ahead of the installed (editable) project's."""
    return {**os.environ, "PYTHONPATH": str(checkout)}


def component_figures(runs: Dict[str, Dict[str, object]], figure: str = "seconds", unit: str = "s"
                      ) -> Dict[str, Dict[str, Optional[float]]]:
    """{"<component> <unit>": {system: value}} over every component any of the runs has a `figure` for."""
    names = dict.fromkeys(n for run in runs.values() for n, c in run["components"].items() if c.get(figure))
    return {f"{n} {unit}": {system: run["components"].get(n, {}).get(figure) for system, run in runs.items()}
            for n in names}


def without_bytecode(work: Path) -> Dict[str, str]:
    """Every module compiled from source in each process: an empty bytecode cache that is never written."""
    return {**os.environ, "PYTHONPYCACHEPREFIX": str(work / "empty-pycache"), "PYTHONDONTWRITEBYTECODE": "1"}


def compare_split(reference_commit: str, work: Path) -> Dict[str, object]:
    data = common.shared_data("sparrowrecsys", "split")
    if data is None:
        raise SystemExit("no ../shared/data/sparrowrecsys/split")
    ours = run_command("--data", str(data), "--work-dir", str(work / "ours"))
    runs = {PROJECT: measure(ours, common.REPO_ROOT, work_dir=work / "ours")}
    runs[PROJECT + RERUN] = measure(ours, common.REPO_ROOT)
    runs[FROM_SOURCE] = measure(ours, common.REPO_ROOT, without_bytecode(work))
    with reference_checkout(reference_commit) as checkout:
        reference = run_command("--data", str(data), "--work-dir", str(work / "reference"))
        runs[REFERENCE] = measure(reference, checkout, checkout_env(checkout), work / "reference")
        runs[REFERENCE + RERUN] = measure(reference, checkout, checkout_env(checkout))
    return runs


def scale(sizes: Sequence[int], work: Path) -> Dict[str, object]:
    return {f"{size:,} ratings": measure(run_command("--size", str(size), "--work-dir", str(work / f"size-{size}")),
                                         common.REPO_ROOT, work_dir=work / f"size-{size}")
            for size in sizes}


def print_split(runs: Dict[str, Dict[str, object]]) -> None:
    cold = {system: runs[system] for system in (PROJECT, REFERENCE)}
    figures = {"wall s (cold)": {system: run["wall_s"] for system, run in cold.items()},
               "peak RSS MB": {system: run["peak_rss_mb"] for system, run in cold.items()},
               **component_figures(cold), **component_figures(cold, "peak_rss_mb", "peak RSS MB")}
    print(common.side_by_side(figures, PROJECT, [REFERENCE]))
    reruns = {PROJECT: runs[PROJECT + RERUN], REFERENCE: runs[REFERENCE + RERUN], FROM_SOURCE: runs[FROM_SOURCE]}
    print("re-run with nothing changed:")
    print(common.side_by_side({"wall s": {system: run["wall_s"] for system, run in reruns.items()}},
                              PROJECT, [REFERENCE, FROM_SOURCE]))
    for system, run in reruns.items():
        print(f"  {system}: trained {run['trained']}, pushed a new version {run['pushed']}")


def print_scale(runs: Dict[str, Dict[str, object]]) -> None:
    sizes = list(runs)
    figures = {"wall s": {s: runs[s]["wall_s"] for s in sizes},
               "peak RSS MB": {s: runs[s]["peak_rss_mb"] for s in sizes},
               **component_figures(runs), **component_figures(runs, "peak_rss_mb", "peak RSS MB")}
    # The largest size is "ours" and the smaller ones its references: the ratios show how time and memory grow.
    print(common.side_by_side(figures, sizes[-1], sizes[:-1]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, nargs="+", metavar="RATINGS",
                        help="generated dataset sizes to run instead of the sparrow split comparison")
    parser.add_argument("--reference-commit", default=DEFAULT_REFERENCE_COMMIT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as work:
        if args.scale:
            runs = scale(sorted(args.scale), Path(work))
            print_scale(runs)
            path = common.write_results("pipeline_scale", {"runs": runs})
        else:
            runs = compare_split(args.reference_commit, Path(work))
            print_split(runs)
            path = common.write_results("pipeline", {"reference_commit": args.reference_commit, "runs": runs})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
