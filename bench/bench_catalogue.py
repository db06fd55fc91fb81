"""Top-N over the whole catalogue of finished runs: the pushed model vs most-rated, recent-most-rated, item-kNN
and gradient-boosted trees, over the same candidates and the same eval users (`recommender.catalogue`), as one
table with ratios.

    python -m bench.bench_catalogue --work-dir .work/seed1 --work-dir .work/seed2 --work-dir .work/seed3 --min-liked 5
    python -m bench.bench_catalogue --component .work/run-1m --max-eval-users 0 3000   # the pipeline's node alone

Each run's SampleGen (or CsvExampleGen) examples are read back for the history and the targets, and the newest
version of its serving directory is scored through `serve_features`, as `recommend` serves it. The trees are
trained on the same run's train samples (seed = the run's position, 1, 2, ...) and rank the same candidates by the
same rule as ours (`recommender.ranking_scores` of their probability times the back-test's will-rate estimate, the
cold-start path for new users). Ours is also shown with each will-rate estimate forced (`will_rate.ESTIMATES`):
the rating count is the rule served before the back-test, the previous version. With several runs (one per
training seed) the table shows the mean of each figure.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import List, Sequence

import numpy as np
from tfx.dsl.io import fileio

from bench import common
from dataio.examples import read_samples
from models import features, signatures
from recommender import catalogue, cold_start, model_ranker, serve, will_rate

_OURS = "ours"
_MODEL_ONLY = "model_only"  # the model for cold-start users too, as before the cold-start path
_TREES = "trees"
_FORCED = {estimate: f"ours_by_{estimate}" for estimate in will_rate.ESTIMATES}  # ours with that will-rate estimate
_REFERENCES = (_MODEL_ONLY, *_FORCED.values(), "most_rated", "recent_most_rated", "item_knn", _TREES)


def _split_dir(pipeline_root: str, split: str) -> str:
    """The newest examples artifact's split directory (SampleGen or CsvExampleGen) of the run's pipeline root."""
    found = sorted(fileio.glob(os.path.join(pipeline_root, "*ExampleGen", "examples", "*", f"Split-{split}")) +
                   fileio.glob(os.path.join(pipeline_root, "SampleGen", "examples", "*", f"Split-{split}")),
                   key=lambda d: int(d.rstrip("/").split("/")[-2]))
    if not found:
        raise FileNotFoundError(f"no examples with a {split} split under {pipeline_root} (run the pipeline first)")
    return found[-1]


def tree_ranker(train_samples: List[dict], data: catalogue.Catalogue, seed: int) -> catalogue.Ranker:
    """Trees trained on the train samples, ranking as `recommend` ranks with our model's probability."""
    import pandas as pd

    from bench import tree_baseline
    from recommender import snapshot

    frame = pd.DataFrame.from_records(train_samples)
    model = tree_baseline.fit(tree_baseline.feature_frame(frame), frame[features.LABEL_KEY].to_numpy(), seed)
    entries = data.movie_entries()
    cold = catalogue.cold_start_ranker(data)
    rated = data.will_rate()

    def rank(user: dict, candidates: np.ndarray) -> np.ndarray:
        if not user[snapshot.RATED]:
            return cold(user, candidates)
        movies = [entries[m] for m in candidates.tolist()]
        rows = serve.request_rows(user[features.USER_KEY], user[snapshot.FEATURES], movies)
        probabilities = model.predict_proba(tree_baseline.feature_frame(rows))[:, 1]
        return serve.ranking_scores({signatures.PROBABILITY_KEY: probabilities},
                                          rated.scores(user[snapshot.RATED], candidates, user[snapshot.LIKED]))
    return rank


def measure(work_dir: str, min_liked: int, tree_seed: int = 1, top_n: int = catalogue.TOP_N) -> dict:
    root = os.path.join(work_dir, "pipeline_root")
    started = time.perf_counter()
    train = list(read_samples(_split_dir(root, "train")))
    data = catalogue.Catalogue.from_samples(train, read_samples(_split_dir(root, "eval")))
    served = serve.load_newest(os.path.join(work_dir, "serving"))
    rankers = {_OURS: model_ranker.ModelRanker(served.signature, data, top_n=top_n),
               _MODEL_ONLY: model_ranker.ModelRanker(served.signature, data, cold_start=False),
               **{name: model_ranker.ModelRanker(served.signature, data, will_rate_estimate=estimate, top_n=top_n)
                  for estimate, name in _FORCED.items()},
               **catalogue.baselines(data), _TREES: tree_ranker(train, data, tree_seed)}
    results = catalogue.evaluate(data, rankers, top_n, min_liked)
    return {"work_dir": work_dir, "version": served.version, "movies": len(data.movies), "min_liked": min_liked,
            "tree_seed": tree_seed, "seconds": round(time.perf_counter() - started, 1), "results": results,
            "cold_start": data.cold_start_back_test.to_dict(), "served_cold_start": served.cold_start.chosen,
            "will_rate": data.will_rate_back_test.to_dict(), "served_will_rate": served.will_rate_back_test.chosen}


def component_once(work_dir: str, max_eval_users: int, output: str, snapshot_dir: str = "") -> dict:
    """The CatalogueEvaluator executor alone on the artifacts of the work dir's latest run (its examples, model,
    feature snapshot, or snapshot_dir, and ServingBaseline's output), as the pipeline runs it: seconds, figures
    and the intervals' words."""
    from tfx.types import artifact_utils, standard_artifacts

    from components.catalogue_eval import executor, spec
    from components.feature_snapshot import spec as snapshot_spec
    from pipeline import configs
    from pipeline.report import metadata

    record = metadata.latest_run(os.path.join(work_dir, "metadata.sqlite"), configs.PIPELINE_NAME)

    def artifact(kind, node: str, key: str):
        found = kind()
        proto = record.node(node).outputs[key][0]
        found.set_mlmd_artifact(proto)
        return found
    examples = artifact(standard_artifacts.Examples, "SampleGen", "examples")
    examples.split_names = artifact_utils.encode_split_names([spec.TRAIN_SPLIT, spec.EVAL_SPLIT])
    snapshot = artifact(snapshot_spec.SnapshotArtifact, "FeatureSnapshot", "feature_snapshot")
    snapshot.uri = snapshot_dir or snapshot.uri
    evaluation = spec.CatalogueEvaluation()
    evaluation.uri = output
    settings = configs.Settings()
    started = time.perf_counter()
    executor.Executor().Do(
        {spec.EXAMPLES_KEY: [examples], spec.MODEL_KEY: [artifact(standard_artifacts.Model, "Trainer", "model")],
         spec.FEATURE_SNAPSHOT_KEY: [snapshot],
         spec.BASELINE_MODEL_KEY: [artifact(standard_artifacts.Model, "ServingBaseline", "baseline_model")]},
        {spec.EVALUATION_KEY: [evaluation]},
        {spec.TOP_N_KEY: catalogue.TOP_N, spec.MIN_LIKED_KEY: 1, spec.MIN_RATIO_KEY: settings.min_catalogue_ratio,
         spec.MAX_REGRESSION_KEY: settings.max_catalogue_regression, spec.MAX_USERS_KEY: max_eval_users})
    seconds = time.perf_counter() - started
    properties = evaluation.mlmd_artifact.custom_properties
    return {"max_eval_users": max_eval_users, "seconds": round(seconds, 1),
            "gate": properties[spec.GATE_PROPERTY].string_value,
            "intervals": properties[spec.INTERVALS_PROPERTY].string_value,
            "figures": executor.read_metrics(output)}


def components(work_dir: str, caps: Sequence[int], snapshot_dir: str) -> List[dict]:
    """component_once per cap, each in a process of its own (as a pipeline's node runs)."""
    import json
    import subprocess
    import tempfile

    found = []
    with tempfile.TemporaryDirectory(prefix="bench-catalogue-") as scratch:
        for cap in caps:
            process = subprocess.run(
                [sys.executable, "-m", "bench.bench_catalogue", "--one", work_dir, str(cap),
                 os.path.join(scratch, str(cap)), snapshot_dir], cwd=common.REPO_ROOT, capture_output=True, text=True)
            if process.returncode:
                raise RuntimeError(f"the CatalogueEvaluator with {cap} users failed:\n{process.stderr[-3000:]}")
            found.append(json.loads(process.stdout.strip().splitlines()[-1]))
            print(f"max eval users {cap or 'all'}: {found[-1]['seconds']} s; {found[-1]['gate']}\n"
                  f"  {found[-1]['intervals']}", flush=True)
    return found


def mean_results(runs: Sequence[dict]) -> dict:
    """Each figure's mean over the runs (the same eval users and candidates in each: the same data)."""
    first = runs[0]["results"]
    return {ranker: {group: {metric: statistics.fmean(r["results"][ranker][group][metric] for r in runs)
                             for metric in figures} for group, figures in groups.items()}
            for ranker, groups in first.items()}


def table(results: dict, top_n: int = catalogue.TOP_N) -> str:
    figures = {}
    groups = results[_OURS]
    for group in (catalogue.ALL_USERS, catalogue.WITH_HISTORY, catalogue.COLD):
        if group not in groups:
            continue
        for metric in (f"hit@{top_n}", f"recall@{top_n}", f"ndcg@{top_n}", "users"):
            figures[f"{group} {metric}"] = {name: r.get(group, {}).get(metric)
                                            for name, r in results.items()}
    for metric in ("coverage", "mean_popularity"):
        figures[metric] = {name: r[catalogue.ALL_USERS].get(metric) for name, r in results.items()}
    return common.side_by_side(figures, _OURS, _REFERENCES)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", action="append",
                        help="the work dir of a finished `sparrow-tfx run` (repeat: one per training seed; "
                             "default .work)")
    parser.add_argument("--min-liked", type=int, default=1,
                        help="eval users with at least this many liked eval movies (5: the issue's global_time)")
    parser.add_argument("--name", default="catalogue", help="bench/results/<name>.json")
    parser.add_argument("--component", metavar="WORK_DIR",
                        help="instead: the CatalogueEvaluator executor alone on this work dir's latest run")
    parser.add_argument("--max-eval-users", type=int, nargs="+", default=[0],
                        help="with --component: the caps measured, one process each (0: every eval user)")
    parser.add_argument("--snapshot", default="", help="with --component: a feature snapshot dir in its place")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        import json

        work_dir, cap, output, snapshot_dir = args.one
        print(json.dumps(component_once(work_dir, int(cap), output, snapshot_dir)))
        return 0
    if args.component:
        found = components(args.component, args.max_eval_users, args.snapshot)
        print(f"wrote {common.write_results(args.name, {'component': args.component, 'runs': found})}")
        return 0
    runs = []
    for seed, work_dir in enumerate(args.work_dir or [".work"], start=1):
        runs.append(measure(work_dir, args.min_liked, tree_seed=seed))
        print(f"{work_dir}: version {runs[-1]['version']}, {runs[-1]['movies']} movies, users with >= "
              f"{args.min_liked} liked eval movies, trees seed {seed}, {runs[-1]['seconds']} s", flush=True)
        back_test = cold_start.BackTest.from_dict(runs[-1]["cold_start"])
        print(f"  cold start: {back_test.summary()}; served: {runs[-1]['served_cold_start']}", flush=True)
        will_rate_test = will_rate.BackTest.from_dict(runs[-1]["will_rate"])
        print(f"  will rate: {will_rate_test.summary()}; served: {runs[-1]['served_will_rate']}", flush=True)
    results = mean_results(runs)
    if len(runs) > 1:
        print(f"mean of {len(runs)} runs:")
    print(table(results))
    print(f"wrote {common.write_results(args.name, {'runs': runs, 'mean': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
