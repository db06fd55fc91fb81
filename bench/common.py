"""Helpers shared by every benchmark: shared data, metrics, the seeds CLI, side-by-side tables, results files."""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Callable, Dict, Iterator, Mapping, Optional, Sequence

import numpy as np
from sklearn import metrics

from models import features

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
# The genre columns, movie's then user's: the references treat them alike, the feature spec has no name for the set.
GENRE_KEYS = tuple(c.name for c in features.COLUMNS if c.domain == features.GENRES)
# The model's numbers that the CSV sample format holds (the references read sample CSVs).
NUMERIC_KEYS = tuple(f.name for f in features.NUMERIC_FEATURES if f.name in features.COLUMN_NAMES)


def shared_data(*parts: str) -> Optional[Path]:
    """A path under ../shared/data (read-only, not in git), or None where this checkout has no such data."""
    path = REPO_ROOT.parent.joinpath("shared", "data", *parts)
    return path if path.exists() else None


def rolling_periods(ratings, start: str, every_days: int, cuts: int, horizon_days: int) -> Iterator[tuple]:
    """(the cut's date, recommender.future.FuturePeriod of [cut, cut + horizon)) for each of `cuts` cuts every_days
    apart from start."""
    from dataio import raw_rows
    from recommender import future

    for k in range(cuts):
        as_of = raw_rows.as_of_timestamp(start) + k * every_days * future.DAY
        yield (datetime.datetime.fromtimestamp(as_of, datetime.timezone.utc).date().isoformat(),
               future.FuturePeriod.of(ratings, as_of, as_of + horizon_days * future.DAY))


def rolling_cut_cli(module: str, defaults: Mapping[str, tuple], measure: Callable[..., dict],
                    show: Callable[[str, dict], None], argv: Optional[Sequence[str]] = None) -> int:
    """The command line of a rolling-cut benchmark (`python -m bench.<module>`): measure(ratings, start, every days,
    cuts, horizon days) on the given MovieLens directory with the given cuts, or else on each of defaults' data sets
    ({name: (start, every days, cuts, horizon days)}: ml-latest-small-2015 where ../shared has it, `make run`'s
    generated data, generated into .work once); show(name, result) prints each; the results file holds them all."""
    from pipeline.runners import replay

    name = module.replace("bench_", "").replace("_", "-")
    first = next(iter(defaults.values()))
    parser = argparse.ArgumentParser(prog=f"python -m bench.{module}")
    parser.add_argument("--movielens", help="a MovieLens directory in place of the default data sets")
    parser.add_argument("--start", default=first[0])
    parser.add_argument("--every", default=f"{first[1]}d")
    parser.add_argument("--cuts", type=int, default=first[2])
    parser.add_argument("--horizon", default=f"{first[3]}d")
    parser.add_argument("--name", default=name)
    args = parser.parse_args(argv)
    if args.movielens:
        sources = {os.path.basename(args.movielens.rstrip("/")): (args.movielens, (
            args.start, replay.parse_every(args.every), args.cuts, replay.parse_every(args.horizon)))}
    else:
        from pipeline.datasets import synthetic

        sources = {}
        small = shared_data("ml-latest-small-2015")
        if small is not None:
            sources["ml-latest-small-2015"] = (str(small), defaults["ml-latest-small-2015"])
        generated = str(REPO_ROOT / ".work" / "bench-replay-data-24000")
        synthetic.generate(generated, 24000, 42)
        sources["generated-24000"] = (os.path.join(generated, "raw"), defaults["generated-24000"])
    results = {}
    for data, (directory, (start, every, cuts, horizon)) in sources.items():
        results[data] = {"data": directory, "start": start, "every_days": every, "horizon_days": horizon,
                         **measure(replay.read_raw_ratings(directory), start, every, cuts, horizon)}
        show(data, results[data])
    print(f"wrote {write_results(args.name, {'command': f'python -m bench.{module}', **results})}")
    return 0


def sparrow_split() -> Optional[tuple]:
    """(train, eval) sample CSVs of the SparrowRecSys split, or None when absent."""
    root = shared_data("sparrowrecsys", "split")
    return None if root is None else (root / "train" / "samples.csv", root / "eval" / "samples.csv")


def binary_metrics(labels, scores) -> Dict[str, float]:
    """Exact (sklearn) metrics, so every system is scored by the same code rather than by its framework's own."""
    labels, scores = np.asarray(labels).ravel(), np.asarray(scores).ravel()
    return {
        "roc_auc": float(metrics.roc_auc_score(labels, scores)),
        "pr_auc": float(metrics.average_precision_score(labels, scores)),
        "accuracy": float(metrics.accuracy_score(labels, scores >= 0.5)),
    }


def summarize(runs: Sequence[Mapping[str, float]]) -> Dict[str, Dict[str, float]]:
    """Mean and sample standard deviation over runs (seeds) of every numeric figure."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    return {k: {"mean": statistics.fmean(r[k] for r in runs),
                "std": statistics.stdev(r[k] for r in runs) if len(runs) > 1 else 0.0} for k in keys}


def machine_info() -> Dict[str, object]:
    # Versions come from package metadata: importing tfx only to read its version takes seconds.
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "machine": platform.machine(),
        # Other work on the machine slows throughput figures; this is the load when the results were written.
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        **{name: _version(name) for name in ("tensorflow", "tf-keras", "tfx", "scikit-learn")},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _version(package: str) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_results(name: str, results: Mapping[str, object], results_dir: Optional[Path] = None) -> Path:
    """Writes results/<name>.json with the machine it was measured on; atomic: a killed run leaves no half file."""
    results_dir = results_dir or RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"name": name, "machine": machine_info(), **results}, indent=2) + "\n")
    tmp.replace(path)
    return path


def side_by_side(figures: Mapping[str, Mapping[str, Optional[float]]], project: str,
                 references: Sequence[str]) -> str:
    """A table with one row per metric: the project's figure, each reference's, and project/reference ratios.

    figures: {metric: {system: value}}; a system missing a metric shows "-".
    """
    header = ["metric", project, *references, *(f"{project}/{r}" for r in references)]
    rows = []
    for metric, by_system in figures.items():
        ours = by_system.get(project)
        ratios = [ours / by_system[r] if ours is not None and by_system.get(r) else None for r in references]
        rows.append([metric, *(_fmt(by_system.get(s)) for s in (project, *references)), *map(_fmt, ratios)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in [header, *rows])


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4f}"


def seeds_cli(name: str, train_and_evaluate: Callable[..., Mapping[str, float]],
              argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """`python -m bench.<name> --seeds 1 2 3`: one run per seed on the sparrow split, per-seed and mean figures."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--train", type=Path, help="sample CSV; default: the shared sparrow split")
    parser.add_argument("--eval", type=Path, help="sample CSV; default: the shared sparrow split")
    args = parser.parse_args(argv)
    if args.train is None or args.eval is None:
        split = sparrow_split()
        if split is None:
            parser.error("no ../shared/data/sparrowrecsys/split; pass --train and --eval")
        args.train, args.eval = args.train or split[0], args.eval or split[1]

    runs = []
    for seed in args.seeds:
        runs.append({"seed": seed, **train_and_evaluate(args.train, args.eval, seed)})
        print(f"seed {seed}: " + "  ".join(f"{k}={_fmt(v)}" for k, v in runs[-1].items() if k != "seed"), flush=True)
    summary = summarize([{k: v for k, v in r.items() if k != "seed"} for r in runs])
    print("mean: " + "  ".join(f"{k}={_fmt(s['mean'])}±{_fmt(s['std'])}" for k, s in summary.items()))
    results = {"train": str(args.train), "eval": str(args.eval), "runs": runs, "summary": summary}
    print(f"wrote {write_results(name, results)}")
    return results
