"""Publishes versions into a serving directory while a reader polls it as a server would; prints what the reader saw.

Run as `python -m tests.serving_dir_probe BASE_DIR WORK_DIR` (an object-store BASE_DIR needs its file system's
environment) or call `publish_while_polling`. A failed push is made by an extras directory with a dangling link; a
version prefix without its marker stands for a push that failed while copying into it.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from typing import Dict

import tensorflow as tf

from compat import file_systems
from recommender import serving_dir


def small_saved_model(path: str) -> str:
    module = tf.Module()
    module.weight = tf.Variable(tf.ones([64, 64]))
    module.score = tf.function(lambda x: tf.reduce_sum(x * module.weight),
                               input_signature=[tf.TensorSpec([64, 64], tf.float32)])
    tf.saved_model.save(module, path)
    return path


def check(base_dir: str, seen: Dict[str, int]) -> None:
    """One poll: what a server would load now, and whether all of it is there."""
    serving_dir.versions(base_dir)  # registers the base dir's file system
    listed = [n.rstrip("/") for n in tf.io.gfile.listdir(base_dir)] if tf.io.gfile.isdir(base_dir) else []
    seen["polls"] += 1
    seen["uncommitted_version_prefixes"] += sum(
        1 for n in listed if n.isdigit() and not tf.io.gfile.exists(os.path.join(base_dir, n, serving_dir.COMMIT_FILE)))
    latest = serving_dir.latest_version_dir(base_dir)
    if latest is None:
        return
    seen["committed_seen"] += 1
    for relative_path, size in serving_dir.committed_files(latest).items():
        path = os.path.join(latest, relative_path)
        if not tf.io.gfile.exists(path) or tf.io.gfile.stat(path).length != size:
            seen["incomplete_loads"] += 1
            return


def publish_while_polling(base_dir: str, work_dir: str, pushes: int = 2) -> dict:
    model_dir = small_saved_model(os.path.join(work_dir, "model"))
    broken_extras = os.path.join(work_dir, "broken-extras")
    os.makedirs(broken_extras, exist_ok=True)
    if not os.path.lexists(os.path.join(broken_extras, "gone")):
        os.symlink(os.path.join(work_dir, "no-such-file"), os.path.join(broken_extras, "gone"))
    seen = dict.fromkeys(("polls", "uncommitted_version_prefixes", "committed_seen", "incomplete_loads"), 0)
    done = threading.Event()

    def poll():
        while not done.is_set():
            check(base_dir, seen)

    reader = threading.Thread(target=poll)
    reader.start()
    published, failure = [], None
    try:
        for _ in range(pushes):
            published.append(serving_dir.publish(model_dir, base_dir))
        try:
            serving_dir.publish(model_dir, base_dir, {"assets.extra/broken": broken_extras})
        except Exception as error:  # the file system's own error type
            failure = type(error).__name__
    finally:
        done.set()
        reader.join()
    if serving_dir.is_object_store(base_dir):  # locally a version appears by one rename, never in parts
        # What a push that failed while copying into its version prefix leaves: the files, no marker.
        serving_dir.copy_tree(model_dir, os.path.join(base_dir, str(int(os.path.basename(published[-1])) + 100)))
    left_after_failure = sorted(n.rstrip("/") for n in tf.io.gfile.listdir(base_dir))
    loaded = tf.saved_model.load(serving_dir.latest_version_dir(base_dir))
    return {"seen": seen, "published": [os.path.basename(p) for p in published], "failure": failure,
            "versions_after_failure": [str(v) for v in serving_dir.versions(base_dir)],
            "listing_after_failure": left_after_failure,
            "cleaned": [os.path.basename(p) for p in serving_dir.clean_leftovers(base_dir, min_age_seconds=0)],
            "listing_after_cleaning": sorted(n.rstrip("/") for n in tf.io.gfile.listdir(base_dir)),
            "score": float(loaded.score(tf.ones([64, 64])).numpy())}


if __name__ == "__main__":
    print(json.dumps(publish_while_polling(sys.argv[1], sys.argv[2])), flush=True)
    file_systems.leave(0)  # tensorflow-io's S3 client would abort a normal exit
