"""Top-N over the whole catalogue of a finished run: its pushed model vs most-rated, recent-most-rated and item-kNN,
over the same candidates and the same eval users (`components.catalogue`), as one table with ratios.

    python -m bench.bench_catalogue --work-dir .work --min-liked 5

The run's SampleGen (or CsvExampleGen) examples are read back for the history and the targets, and the newest
version of its serving directory is scored through `serve_features`, as `recommend` serves it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from bench import common
from components import catalogue, recommender
from components.sample_gen import beam_samples
from tfx.dsl.io import fileio

_OURS = "ours"
_MODEL_ONLY = "model_only"  # the model for cold-start users too, as before the cold-start path
_REFERENCES = (_MODEL_ONLY, "most_rated", "recent_most_rated", "item_knn")


def _split_dir(pipeline_root: str, split: str) -> str:
    """The newest examples artifact's split directory (SampleGen or CsvExampleGen) of the run's pipeline root."""
    found = sorted(fileio.glob(os.path.join(pipeline_root, "*ExampleGen", "examples", "*", f"Split-{split}")) +
                   fileio.glob(os.path.join(pipeline_root, "SampleGen", "examples", "*", f"Split-{split}")),
                   key=lambda d: int(d.rstrip("/").split("/")[-2]))
    if not found:
        raise FileNotFoundError(f"no examples with a {split} split under {pipeline_root} (run the pipeline first)")
    return found[-1]


def measure(work_dir: str, min_liked: int, top_n: int = catalogue.TOP_N) -> dict:
    root = os.path.join(work_dir, "pipeline_root")
    started = time.perf_counter()
    data = catalogue.Catalogue.from_samples(beam_samples.read_samples(_split_dir(root, "train")),
                                            beam_samples.read_samples(_split_dir(root, "eval")))
    served = recommender.load_newest(os.path.join(work_dir, "serving"))
    rankers = {_OURS: catalogue.model_ranker(served.signature, data),
               _MODEL_ONLY: catalogue.model_ranker(served.signature, data, cold_start=False),
               **catalogue.baselines(data)}
    results = catalogue.evaluate(data, rankers, top_n, min_liked)
    return {"version": served.version, "movies": len(data.movies), "min_liked": min_liked,
            "seconds": round(time.perf_counter() - started, 1), "results": results}


def table(measured: dict, top_n: int = catalogue.TOP_N) -> str:
    figures = {}
    groups = measured["results"][_OURS]
    for group in (catalogue.ALL_USERS, catalogue.WITH_HISTORY, catalogue.COLD):
        if group not in groups:
            continue
        for metric in (f"hit@{top_n}", f"recall@{top_n}", f"ndcg@{top_n}", "users"):
            figures[f"{group} {metric}"] = {name: r.get(group, {}).get(metric)
                                            for name, r in measured["results"].items()}
    for metric in ("coverage", "mean_popularity"):
        figures[metric] = {name: r[catalogue.ALL_USERS].get(metric) for name, r in measured["results"].items()}
    return common.side_by_side(figures, _OURS, _REFERENCES)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=".work", help="the work dir of a finished `sparrow-tfx run`")
    parser.add_argument("--min-liked", type=int, default=1,
                        help="eval users with at least this many liked eval movies (5: the issue's global_time)")
    parser.add_argument("--name", default="catalogue", help="bench/results/<name>.json")
    args = parser.parse_args(argv)
    measured = measure(args.work_dir, args.min_liked)
    print(f"version {measured['version']}, {measured['movies']} movies, users with >= {args.min_liked} liked "
          f"eval movies, {measured['seconds']} s", flush=True)
    print(table(measured))
    print(f"wrote {common.write_results(args.name, {'work_dir': args.work_dir, **measured})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
