"""SampleGen's wall time, CPU time and peak memory on real and generated ratings: ours (the default, automatic
shuffle shards) beside the reference, the same job as one pipeline (`shuffle_shards=1`, what the code did before
sharding and what distributed runners run), measured in the same run.

    python -m bench.bench_sample_gen                   # ml-latest-small-2015 (when present) and 1M generated
    python -m bench.bench_sample_gen --sizes 100000 300000

Each measurement runs SampleGen's executor in a fresh process with the local runner's Beam flags; peak memory is
that process's maximum resident set size, the TF/TFX/Beam imports included (`rss_before_mb` is after them).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

from bench import common

_RESULT_PREFIX = "RESULT "


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


_SYSTEMS = {"sharded": 0, "single pipeline": 1}  # ours, then the reference: their shuffle_shards
_OURS_AND_REFERENCE = ("sharded", ["single pipeline"])


def measure(raw_dir: str, out_dir: str, features_mode: str, shuffle_shards: int) -> Dict[str, object]:
    """Runs SampleGen once in this process; its figures and counts."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.sample_gen import beam_samples, executor, report
    from components.sample_gen.config import SampleGenConfig
    from pipeline.runners import beam

    config = SampleGenConfig(features_mode=features_mode, shuffle_shards=shuffle_shards)
    beam_args = beam.direct_args()
    shards = beam_samples.shard_count(config, [os.path.join(raw_dir, "ratings.csv")], PipelineOptions(beam_args))
    load_before = os.getloadavg()[0]
    rss_before, cpu_before, start = _rss_mb(), os.times(), time.perf_counter()
    examples = executor.run_standalone(raw_dir, out_dir, config, beam_args)
    wall, cpu = time.perf_counter() - start, os.times()
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu.user + cpu.system - cpu_before.user - cpu_before.system, 1),
        "peak_rss_mb": round(_rss_mb()),
        "rss_before_mb": round(rss_before),
        "shards": shards,
        # Other work on the machine stretches wall time: the 1-minute load average before and after.
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **report.counts(report.load(examples.uri)),
    }


def _in_child(raw_dir: str, features_mode: str, shuffle_shards: int) -> Dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-sample-gen-") as out_dir:
        child = subprocess.run([sys.executable, "-m", "bench.bench_sample_gen", "--measure", raw_dir, out_dir,
                                "--features", features_mode, "--shuffle-shards", str(shuffle_shards)],
                               capture_output=True, text=True, cwd=common.REPO_ROOT)
    lines = [line for line in child.stdout.splitlines() if line.startswith(_RESULT_PREFIX)]
    if child.returncode or not lines:
        raise RuntimeError(f"measuring {raw_dir} failed:\n{child.stderr[-3000:]}")
    return json.loads(lines[-1][len(_RESULT_PREFIX):])


def _generated(size: int, parent: str) -> str:
    from pipeline.datasets import synthetic

    raw_dir = os.path.join(parent, f"synthetic-{size}")
    if not os.path.exists(os.path.join(raw_dir, "movies.csv")):
        synthetic.write_movielens(synthetic.generate_world(size, seed=1), raw_dir)
    return raw_dir


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_sample_gen", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000], help="generated ratings")
    parser.add_argument("--features", default="point_in_time", choices=["point_in_time", "leaky"])
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "bench-sample-gen"),
                        help="where generated raw files are kept between runs")
    parser.add_argument("--measure", nargs=2, metavar=("RAW_DIR", "OUT_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--shuffle-shards", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(_RESULT_PREFIX + json.dumps(measure(*args.measure, args.features, args.shuffle_shards)), flush=True)
        return 0

    datasets = {}
    real = common.shared_data("ml-latest-small-2015")
    if real is not None:
        datasets["ml-latest-small-2015"] = str(real)
    for size in args.sizes:
        datasets[f"generated-{size}"] = _generated(size, args.data_dir)
    results, table = {}, {}
    for name, raw_dir in datasets.items():
        results[name] = {system: _in_child(raw_dir, args.features, shards) for system, shards in _SYSTEMS.items()}
        for system, figures in results[name].items():
            print(f"{name}, {system} ({figures['shards']} shards): {figures['ratings_read']:,} ratings -> "
                  f"{figures['samples_train']:,} train + {figures['samples_eval']:,} eval samples in "
                  f"{figures['wall_s']} s wall, {figures['cpu_s']} s CPU, peak RSS {figures['peak_rss_mb']:,} MB "
                  f"({figures['rss_before_mb']:,} MB after imports), load average {figures['loadavg_1m'][0]} -> "
                  f"{figures['loadavg_1m'][1]}", flush=True)
        print(f"{name}: counts {_same_counts(*results[name].values())}", flush=True)
        for metric, key in (("wall s", "wall_s"), ("CPU s", "cpu_s"), ("peak RSS MB", "peak_rss_mb")):
            table[f"{name} {metric}"] = {system: figures[key] for system, figures in results[name].items()}
    print(common.side_by_side(table, *_OURS_AND_REFERENCE))
    path = common.write_results("sample_gen", {"features_mode": args.features, "datasets": results})
    print(f"wrote {path}")
    return 0


def _same_counts(ours: Dict[str, object], reference: Dict[str, object]) -> str:
    """The report's counts of both runs: equal, or what differs."""
    ignored = {"wall_s", "cpu_s", "peak_rss_mb", "rss_before_mb", "loadavg_1m", "shards"}
    differ = {k: (ours.get(k), reference.get(k)) for k in sorted((set(ours) | set(reference)) - ignored)
              if ours.get(k) != reference.get(k)}
    return "all equal" if not differ else f"differ (sharded, single pipeline): {differ}"


if __name__ == "__main__":
    sys.exit(main())
