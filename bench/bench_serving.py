"""Serving latency: the pushed SavedModel scores 1,000 candidate movies for one user, on CPU, in one process,
beside the original SparrowRecSys model scoring the same candidates in the same run.

    python -m bench.bench_serving --model /tmp/serving-bench/ml/serving    # the newest version there
    python -m bench.bench_serving --model DIR --user 42 --calls 1000 --intra-op-threads 1

--model is a serving directory (its newest version is used) or one version directory; the default is the
newest version of `make run` (.work/serving). The bench makes no model: push one first, e.g.
`sparrow-tfx run --movielens ../shared/data/ml-latest-small-2015 --work-dir DIR` (it needs a snapshot with at
least --candidates movies the user has not rated).

Timed paths, each warmed up then called --calls times, one request after the other:
- serve_features: one tensor per feature (what `recommend` sends); serving_default: serialized tf.Examples
  (what TensorFlow Serving's predict/classify on tf.Example runs: parse, Transform, model).
- "call": the request is prebuilt, only the signature runs (a server's share); "client": the request is built
  from the snapshot's features, then the call (what a caller waits for).
- the original: raw feature tensors through its Keras SavedModel's serving_default (bench/reference_serving.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from bench import common
from pipeline import configs

PERCENTILES = (50, 95, 99)


def latency_ms(call: Callable[[], object], warmup: int, calls: int) -> Dict[str, float]:
    """Percentiles of `calls` timed calls after `warmup` untimed ones (tracing, caches, allocator)."""
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    ms = np.array(seconds) * 1000
    return {**{f"p{p}": float(np.percentile(ms, p)) for p in PERCENTILES}, "mean": float(ms.mean())}


def pick_candidates(served, user_id: Optional[int], count: int):
    """(user entry, `count` movieIds it has not rated: the lowest ids); by default the first user with enough."""
    from models import features
    from recommender import snapshot

    for user in snapshot.users(served.snapshot_dir):
        if user_id is not None and user[features.USER_KEY] != user_id:
            continue
        unrated = sorted(set(served.movies) - set(user[snapshot.RATED]))
        if len(unrated) >= count:
            return user, unrated[:count]
        if user_id is not None:
            raise SystemExit(f"error: user {user_id} has {len(unrated)} unrated movies, fewer than {count}")
    raise SystemExit(f"error: no user{'' if user_id is None else f' {user_id}'} with {count} unrated movies "
                     f"in the snapshot of {served.version_dir}")


def version_dir(model: str) -> str:
    from recommender import serving_dir

    if os.path.exists(os.path.join(model, "saved_model.pb")):
        return model
    found = serving_dir.latest_version_dir(model)
    if found is None:
        raise SystemExit(f"error: no pushed model under {model}; push one first (see --help)")
    return found


def measure(args) -> Dict[str, object]:
    import tensorflow as tf

    from bench import example_client, reference_serving
    from models import features, signatures
    from recommender import serve, snapshot

    served = serve.ServedVersion.load(version_dir(args.model))
    user, movie_ids = pick_candidates(served, args.user, args.candidates)
    user_id, user_features = user[features.USER_KEY], user[snapshot.FEATURES]
    timed = lambda call: latency_ms(call, args.warmup, args.calls)

    # Ours: both signatures, with the request prebuilt and built per call.
    as_tensors = serve.as_tensors
    features_request = as_tensors(served.candidates.request(user_id, user_features, movie_ids))
    examples = example_client.ExampleTable(served.movies)
    serialized = tf.constant(examples.request(user_id, user_features, movie_ids))
    by_examples = served.model.signatures[signatures.SERVING_SIGNATURE]
    scores = {
        "serve_features": serve.score_candidates(served, user_id, user_features, movie_ids),
        "serving_default": by_examples(examples=serialized)[signatures.PROBABILITY_KEY].numpy().reshape(-1),
    }
    paths = {
        "serve_features call": timed(lambda: served.signature(**features_request)),
        "serve_features client": timed(lambda: serve.score_candidates(served, user_id, user_features,
                                                                            movie_ids)),
        "serving_default call": timed(lambda: by_examples(examples=serialized)),
        "serving_default client": timed(lambda: by_examples(examples=tf.constant(
            examples.request(user_id, user_features, movie_ids)))),
        "serving_default protobuf client": timed(lambda: by_examples(examples=tf.constant(
            example_client.naive_request(user_id, user_features, served.movies, movie_ids)))),
    }

    # The original, on the same candidates and features (its missing values are 0, as its CSV reader's).
    reference_table = serve.CandidateTable(served.movies, reference_serving.request_dtypes(), 0.0)
    reference_request = as_tensors(reference_table.request(user_id, user_features, movie_ids))
    with tempfile.TemporaryDirectory(prefix="bench-serving-original-") as export_dir:
        buckets = reference_serving.num_buckets(served.movies, [user_id])
        reference = reference_serving.export_and_load(buckets, reference_request, export_dir)
        scores["original"] = reference(reference_request)
        paths["original call"] = timed(lambda: reference(reference_request))
        paths["original client"] = timed(lambda: reference(as_tensors(reference_table.request(
            user_id, user_features, movie_ids))))

    # Both our paths must score the same thing, or the comparison of their latencies means nothing.
    gap = float(np.max(np.abs(scores["serve_features"] - scores["serving_default"])))
    if gap > 1e-5:
        raise SystemExit(f"error: serve_features and serving_default disagree by {gap} on the same candidates")
    return {
        "version_dir": served.version_dir, "user_id": user_id, "candidates": len(movie_ids),
        "warmup": args.warmup, "calls": args.calls, "max_signature_gap": gap,
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "latency_ms": paths,
    }


def table(paths: Dict[str, Dict[str, float]]) -> str:
    """ours vs the original per path and percentile; the original has one request form (raw features)."""
    figures = {}
    for path, stats in paths.items():
        if path.startswith("original"):
            continue
        original = paths["original " + path.rsplit(" ", 1)[1]]
        for p in PERCENTILES:
            figures[f"{path} p{p} ms"] = {"ours": stats[f"p{p}"], "original": original[f"p{p}"]}
    return common.side_by_side(figures, "ours", ["original"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_serving", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("--model", default=configs.LocalPaths(configs.DEFAULT_WORK_DIR).serving_dir,
                        help="serving directory or version directory (default: .work/serving)")
    parser.add_argument("--user", type=int, help="userId (default: the snapshot's first with enough candidates)")
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=300, help="timed calls per path (at least 200)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--intra-op-threads", type=int, default=0, help="TensorFlow's setting (0: its default)")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="TensorFlow's setting (0: its default)")
    parser.add_argument("--name", default="serving", help="results file bench/results/<name>.json")
    args = parser.parse_args(argv)
    if args.calls < 200:
        parser.error("--calls must be at least 200: a p99 needs them")

    import tensorflow as tf

    # One process on CPU: no GPU even where there is one; threads must be set before TensorFlow starts.
    tf.config.set_visible_devices([], "GPU")
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    results = measure(args)
    print(f"model {results['version_dir']}: user {results['user_id']} x {results['candidates']:,} candidates, "
          f"{args.calls} calls after {args.warmup} warm-up, threads {results['threads']}, "
          f"load {os.getloadavg()[0]:.2f}")
    print(table(results["latency_ms"]))
    print(f"wrote {common.write_results(args.name, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
