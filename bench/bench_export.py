"""The `recommend` signatures in the pushed SavedModel (recommender/export.py): size on disk and load time beside the
plain model, the export's time at push, and the warm top 10 beside `recommend`'s, checked equal.

    python -m bench.bench_export --from-run WORK_DIR          # the newest Trainer model and FeatureSnapshot there
    python -m bench.bench_export --model DIR --snapshot DIR [--policy DIR] [--repeats 5] [--users 20]
    python -m bench.bench_export --from-run WORK_DIR --will-rate item_knn   # the snapshot's choice forced

The plain model is the trained SavedModel as the AtomicPusher published it before the export (and as it still
publishes a model without `serve_features`); ours is the same model saved again with the snapshot's tables and the
`recommend` signatures, as the AtomicPusher now publishes it. Both are published (with the snapshot) into serving
directories under --out, as versions.
- Size: the SavedModel's files (saved_model.pb, variables/, assets/; not assets.extra/, where the snapshot the
  Python path reads lies in both) and the whole version.
- Load: `tf.saved_model.load` in a fresh process after TensorFlow is imported, --repeats times each, alternating;
  and "to the first top 10": ours loads and calls `recommend` once, the Python path (`recommend`'s
  serve.ServedVersion.load, then serve.recommend) loads the model and the snapshot's movies and ranks.
- Warm: in one process, the signature's call for users with ratings and without, beside serve.recommend's whole
  call (it reads the user's entry from the snapshot's files each time) and its batched scoring alone.
- Equal: for --users users with ratings and 3 without, the signature's top 10 against serve.recommend's.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

from bench import common

NEW_USERS = (987654321, 0, 2**62)
TOP = 10


def newest_artifact(work_dir: str, component: str, output: str, inner: str = "") -> str:
    """The newest artifact directory of a component's output under a run's pipeline root (by execution id)."""
    from pipeline import configs

    pattern = os.path.join(configs.LocalPaths(work_dir).pipeline_root, component, output, "*", inner)
    found = sorted((path for path in glob.glob(pattern) if os.path.isdir(path)),
                   key=lambda path: int(path.rstrip("/").split("/")[-2 if inner else -1]))
    if not found:
        raise SystemExit(f"error: no {component} {output} under {work_dir} (run the pipeline past it first)")
    return found[-1].rstrip("/")


def directory_bytes(path: str, skip: str = "") -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        if skip:
            dirs[:] = [d for d in dirs if os.path.join(root, d) != os.path.join(path, skip)]
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


def sizes(version_dir: str) -> Dict[str, int]:
    from recommender import serving_dir

    return {"saved_model.pb": os.path.getsize(os.path.join(version_dir, serving_dir.SAVED_MODEL_FILE)),
            "variables": directory_bytes(os.path.join(version_dir, "variables")),
            "assets": directory_bytes(os.path.join(version_dir, "assets")),
            "model": directory_bytes(version_dir, skip="assets.extra"),
            "version": directory_bytes(version_dir)}


def probe(mode: str, directory: str, user: Optional[int]) -> Dict[str, float]:
    """Run in a fresh process: TensorFlow imported first (not timed), then the load (and the first top 10)."""
    import tensorflow as tf

    from recommender import export, serve

    started = time.perf_counter()
    if mode == "load":
        tf.saved_model.load(directory)
        return {"seconds": time.perf_counter() - started}
    if mode == "signature":
        loaded = tf.saved_model.load(directory)
        loaded_at = time.perf_counter()
        loaded.signatures[export.SIGNATURE](user_id=tf.constant(user, tf.int64), k=tf.constant(TOP))
        return {"seconds": time.perf_counter() - started, "load": loaded_at - started}
    served = serve.ServedVersion.load(directory)
    loaded_at = time.perf_counter()
    serve.recommend(served, user, top=TOP)
    return {"seconds": time.perf_counter() - started, "load": loaded_at - started}


def fresh_process(mode: str, directory: str, user: Optional[int] = None) -> Dict[str, float]:
    command = [sys.executable, "-m", "bench.bench_export", "--probe", mode, "--probe-dir", directory]
    if user is not None:
        command += ["--probe-user", str(user)]
    result = subprocess.run(command, cwd=common.REPO_ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_of(runs: List[Dict[str, float]], key: str = "seconds") -> float:
    return statistics.median(run[key] for run in runs)


def warm_and_equal(version_dir: str, users: int, calls: int) -> Dict[str, object]:
    import numpy as np
    import tensorflow as tf

    from bench.bench_serving import latency_ms
    from models import features
    from recommender import export, serve, snapshot

    served = serve.ServedVersion.load(version_dir)
    recommend = served.model.signatures[export.SIGNATURE]
    rated = {user[features.USER_KEY]: len(user[snapshot.RATED]) for user in snapshot.users(served.snapshot_dir)}
    by_count = sorted(rated, key=lambda user: (rated[user], user))
    known = sorted(set(by_count[::max(1, len(by_count) // users)][:users - 1] + [by_count[-1]]))
    same, max_difference, checked = 0, 0.0, []
    for user in known + list(NEW_USERS):
        expected = serve.recommend(served, user, top=TOP)
        got = recommend(user_id=tf.constant(user, tf.int64), k=tf.constant(TOP))
        ids = got[export.MOVIE_IDS].numpy().tolist()
        equal = ids == [item.movie_id for item in expected.items]
        same += equal
        if equal and ids:
            max_difference = max(max_difference, float(np.max(np.abs(
                got[export.SCORES].numpy() - [item.score for item in expected.items]))))
        checked.append({"user": user, "path": expected.path, "equal": equal})
    heavy, new = by_count[-1], NEW_USERS[0]
    call = {name: latency_ms(lambda u=u: recommend(user_id=tf.constant(u, tf.int64), k=tf.constant(TOP)),
                             warmup=3, calls=calls) for name, u in (("known", heavy), ("new", new))}
    python = {name: latency_ms(lambda u=u: serve.recommend(served, u, top=TOP), warmup=1, calls=max(3, calls // 4))
              for name, u in (("known", heavy), ("new", new))}
    scoring = serve.recommend(served, heavy, top=TOP).seconds_warm_call * 1000
    return {"users_checked": len(checked), "same_top_10": same, "max_score_difference": max_difference,
            "checked": checked, "heavy_user": heavy, "heavy_user_candidates": len(served.movies) - rated[heavy],
            "signature_ms": call, "recommend_ms": python, "recommend_scoring_ms_known": scoring}


def main(argv=None) -> Dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-run", metavar="WORK_DIR", help="a run's work dir: its newest Trainer model and "
                                                               "FeatureSnapshot")
    parser.add_argument("--model", help="a trained SavedModel directory (with serve_features)")
    parser.add_argument("--snapshot", help="a FeatureSnapshot artifact directory")
    parser.add_argument("--policy", help="a directory with a serving_policy.json (a first-run fallback)")
    parser.add_argument("--will-rate", choices=("rating_count", "item_knn"),
                        help="force the snapshot's will-rate choice (a copy of it)")
    parser.add_argument("--out", default=str(common.REPO_ROOT / ".work" / "bench-export"),
                        help="where the two versions are published (replaced)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh-process loads of each")
    parser.add_argument("--users", type=int, default=20, help="users with ratings whose top 10 are compared")
    parser.add_argument("--calls", type=int, default=40, help="timed warm calls of the signature")
    parser.add_argument("--name", default="export", help="results file name (bench/results/NAME.json)")
    parser.add_argument("--probe", choices=("load", "signature", "python"), help=argparse.SUPPRESS)
    parser.add_argument("--probe-dir", help=argparse.SUPPRESS)
    parser.add_argument("--probe-user", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.probe_dir, args.probe_user)))
        return {}
    if args.from_run:
        args.model = args.model or newest_artifact(args.from_run, "Trainer", "model", "Format-Serving")
        args.snapshot = args.snapshot or newest_artifact(args.from_run, "FeatureSnapshot", "feature_snapshot")
    if not (args.model and args.snapshot):
        parser.error("give --from-run, or --model and --snapshot")

    from recommender import export, serving_dir, serving_policy, snapshot

    shutil.rmtree(args.out, ignore_errors=True)
    snapshot_dir = args.snapshot
    manifest = snapshot.load_manifest(snapshot_dir)
    if args.will_rate and args.will_rate != manifest[snapshot.WILL_RATE_BACK_TEST]["chosen"]:
        snapshot_dir = os.path.join(args.out, "snapshot")
        shutil.copytree(args.snapshot, snapshot_dir)
        manifest[snapshot.WILL_RATE_BACK_TEST] = {**manifest[snapshot.WILL_RATE_BACK_TEST], "chosen": args.will_rate}
        with open(os.path.join(snapshot_dir, snapshot.MANIFEST_FILE), "w") as f:
            json.dump(manifest, f)
    policy = serving_policy.load(args.policy) if args.policy else None
    files = {serving_policy.POLICY_FILE: serving_policy.path_of(args.policy)} if policy else {}
    extras = {serving_dir.FEATURE_SNAPSHOT_DIR: snapshot_dir}
    plain = serving_dir.publish(args.model, os.path.join(args.out, "plain"), extras, files)
    started = time.perf_counter()
    info = export.export(args.model, snapshot_dir, policy, os.path.join(args.out, "exported-model"))
    exported_seconds = time.perf_counter() - started
    ours = serving_dir.publish(os.path.join(args.out, "exported-model"), os.path.join(args.out, "ours"), extras,
                               files)
    print(f"exported in {exported_seconds:.1f} s: {json.dumps(info)}", flush=True)

    warm = warm_and_equal(ours, args.users, args.calls)
    heavy = warm["heavy_user"]
    loads = {"plain": [], "ours": [], "ours_first": [], "python_first": []}
    for _ in range(args.repeats):  # alternating, so that load on the machine falls on both alike
        loads["plain"].append(fresh_process("load", plain))
        loads["ours"].append(fresh_process("load", ours))
        loads["ours_first"].append(fresh_process("signature", ours, heavy))
        loads["python_first"].append(fresh_process("python", plain, heavy))
    size = {"plain": sizes(plain), "ours": sizes(ours)}
    load = {name: median_of(runs) for name, runs in loads.items()}

    figures = {
        "SavedModel on disk, MB (no assets.extra)": {"ours": size["ours"]["model"] / 1e6,
                                                     "plain": size["plain"]["model"] / 1e6},
        "  of it variables/, MB": {"ours": size["ours"]["variables"] / 1e6, "plain": size["plain"]["variables"] / 1e6},
        "  of it saved_model.pb, MB": {"ours": size["ours"]["saved_model.pb"] / 1e6,
                                       "plain": size["plain"]["saved_model.pb"] / 1e6},
        "version on disk (with the snapshot), MB": {"ours": size["ours"]["version"] / 1e6,
                                                    "plain": size["plain"]["version"] / 1e6},
        "tf.saved_model.load, s (median)": {"ours": load["ours"], "plain": load["plain"]},
        "load + first top 10, s (median; plain: recommend's Python path)": {"ours": load["ours_first"],
                                                                             "plain": load["python_first"]},
        "warm top 10, user with ratings, p50 ms (plain: serve.recommend)": {
            "ours": warm["signature_ms"]["known"]["p50"], "plain": warm["recommend_ms"]["known"]["p50"]},
        "warm top 10, user without ratings, p50 ms (plain: serve.recommend)": {
            "ours": warm["signature_ms"]["new"]["p50"], "plain": warm["recommend_ms"]["new"]["p50"]},
    }
    print(f"\nmodel {args.model}\nsnapshot {snapshot_dir}: {manifest[snapshot.RATINGS]:,} ratings, "
          f"{manifest[snapshot.USERS_PREFIX]:,} users, {manifest[snapshot.MOVIES_PREFIX]:,} movies; will-rate "
          f"{info['will_rate']}, paths {info['paths']}")
    print(f"export at push: {exported_seconds:.1f} s; tables {info['table_bytes'] / 1e6:.1f} MB in memory")
    print(common.side_by_side(figures, "ours", ["plain"]))
    print(f"recommend's batched scoring alone (warm, user with ratings, {warm['heavy_user_candidates']:,} "
          f"candidates): {warm['recommend_scoring_ms_known']:.1f} ms")
    print(f"same top 10 as serve.recommend: {warm['same_top_10']} of {warm['users_checked']} users "
          f"(max score difference {warm['max_score_difference']:.2e})")
    results = {"command": " ".join(["python -m bench.bench_export", *(argv if argv is not None else sys.argv[1:])]),
               "model": args.model, "snapshot": snapshot_dir,
               "snapshot_counts": {key: manifest[key] for key in (snapshot.RATINGS, snapshot.USERS_PREFIX,
                                                                  snapshot.MOVIES_PREFIX)},
               "export": info, "export_seconds": exported_seconds, "sizes": size, "load_seconds": loads,
               "load_medians": load, "warm": warm, "figures": figures}
    print(f"wrote {common.write_results(args.name, results)}")
    return results


if __name__ == "__main__":
    main()
