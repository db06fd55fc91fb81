"""`sparrow-tfx replay` as a user runs it: the whole loop's wall time, each period's and each node's time, and what
served against every baseline on the future, pooled over the periods.

    python -m bench.bench_replay                       # ml-latest-small-2015: its last two years in 90-day periods
    python -m bench.bench_replay --generated 24000     # `make run`'s generated data: 3 periods of 365 days
    python -m bench.bench_replay --movielens DIR --start YYYY-MM-DD --every 90d --periods 8

The replay runs in a fresh work dir, in its own process (`python -m pipeline.cli.main replay`), nothing else
heavy beside it. The references are the baselines the replay scores in the same run (most-rated, recent
most-rated, item-kNN, EASE over the same candidates): served / each is printed per metric and user group.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional

from bench import common
from pipeline.runners import replay

ML_SMALL = ("ml-latest-small-2015", "2013-04-09", "90d", 8)  # its last rating: 2015-03-30
GENERATED = ("2012-01-01", "365d", 3)


def run_replay(movielens: str, start: str, every: str, periods: int, work_dir: str, extra: List[str]) -> float:
    shutil.rmtree(work_dir, ignore_errors=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pipeline.cli.main", "replay", "--movielens", movielens, "--start", start,
                    "--every", every, "--periods", str(periods), "--work-dir", work_dir, *extra],
                   cwd=common.REPO_ROOT, check=True)
    return time.monotonic() - started


def node_means(periods: List[dict]) -> Dict[str, float]:
    nodes = sorted({node for p in periods for node in p["node_seconds"]})
    return {node: round(sum(p["node_seconds"].get(node, 0.0) for p in periods) / len(periods), 1) for node in nodes}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_replay")
    parser.add_argument("--movielens", help="a MovieLens directory (default: ../shared/data/ml-latest-small-2015)")
    parser.add_argument("--generated", type=int, metavar="RATINGS", help="generated data of this size instead")
    parser.add_argument("--start")
    parser.add_argument("--every")
    parser.add_argument("--periods", type=int)
    parser.add_argument("--work-dir", help="default: .work/bench-<results name>")
    parser.add_argument("--name", help="results file name (default from the data)")
    parser.add_argument("replay_args", nargs=argparse.REMAINDER, help="after --: options for every period's run")
    args = parser.parse_args(argv)
    extra = [a for a in args.replay_args if a != "--"]
    if args.generated:
        from pipeline.datasets import synthetic

        data_root = str(common.REPO_ROOT / ".work" / f"bench-replay-data-{args.generated}")
        synthetic.generate(data_root, args.generated, 42)
        movielens, defaults, name = os.path.join(data_root, "raw"), GENERATED, f"replay-generated-{args.generated}"
    else:
        path = args.movielens or common.shared_data(ML_SMALL[0])
        if path is None:
            print(f"skipped: ../shared/data/{ML_SMALL[0]} is not here; pass --movielens DIR")
            return 0
        movielens, defaults = str(path), ML_SMALL[1:]
        name = f"replay-{os.path.basename(str(path).rstrip('/'))}"
    start, every, periods = (args.start or defaults[0], args.every or defaults[1], args.periods or defaults[2])
    work_dir = args.work_dir or str(common.REPO_ROOT / ".work" / f"bench-{args.name or name}")
    seconds = run_replay(movielens, start, every, periods, work_dir, extra)
    state = replay.load(work_dir)
    done = state["periods"]
    pooled = replay.pooled_ratios(done)
    print(f"\nreplay of {movielens}: {periods} periods of {every} from {start} in {seconds:.0f} s "
          f"({seconds / periods:.0f} s per period; {sum(p['pushed'] for p in done)} pushed)")
    print("mean seconds per period by node: " + ", ".join(f"{k} {v}" for k, v in node_means(done).items()))
    for group, found in pooled.items():
        print(f"\n{group} users, {found['users']} user-periods pooled:")
        means = {metric: row["means"] for metric, row in found["metrics"].items() if row["means"]}
        references = [name for name in replay.RANKERS if name != replay.SERVED and name in next(iter(means.values()))]
        print(common.side_by_side(means, replay.SERVED, references))
    command = "python -m bench.bench_replay " + " ".join(argv if argv is not None else sys.argv[1:])
    path = common.write_results(args.name or name, {
        "command": command.strip(), "movielens": movielens, "start": start, "every": every, "periods": periods,
        "seconds": round(seconds, 1), "node_seconds_mean": node_means(done), "pooled": pooled,
        "per_period": [{key: p[key] for key in ("as_of", "until", "serving_version", "pushed", "gate", "seconds",
                                                "eval_auc", "known", "new")} for p in done]})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
