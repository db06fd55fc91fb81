"""The serving directory as TensorFlow Serving reads it: `<base>/<integer version>/saved_model.pb`.

A version is complete only when its commit marker (COMMIT_FILE, a manifest of every file and its size) is there,
written last; readers here take committed versions only. On a local (POSIX) file system the version is written
whole under a staging name (starting with ".", not an integer: Serving ignores it), marker included, and appears by
one atomic rename. Object stores (gs://, s3://) have no rename: a directory "rename" is a copy then a delete, so a
reader could see a half-copied version. There the staged files are copied to the version's prefix, the model's
saved_model.pb and then the marker last. A failed push leaves no marker (nothing a reader here loads); its
leftovers are removed by the next push. On a local file system a version directory only ever appears whole (by
the rename), so one without a marker, with its saved_model.pb, is complete too: a version pushed before markers
existed, which stays served and is never cleaned away.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from typing import Dict, List, Mapping, Optional

import tensorflow as tf

from compat import file_systems

FINGERPRINT_FILE = "fingerprint.pb"  # written by tf.saved_model.save: a checksum of the model's contents
# The features to serve the model with, published inside its version; Serving reads only its warmup file there.
FEATURE_SNAPSHOT_DIR = os.path.join("assets.extra", "feature_snapshot")
# The TFDV statistics of the training split the model was trained on (StatisticsGen's Split-train/FeatureStats.pb, a
# binary DatasetFeatureStatisticsList), published inside its version: the next run's DataGate measures drift
# against them. A version pushed before they were published has none.
TRAINING_STATISTICS_FILE = os.path.join("assets.extra", "statistics", "train.pb")
COMMIT_FILE = "sparrow-commit.json"  # the last file of a version; Serving's loader ignores unknown files
SAVED_MODEL_FILE = "saved_model.pb"
STAGING_PREFIX = ".staging-"
OBJECT_STORE_SCHEMES = ("gs://", "s3://")
# A push on Kubeflow may overlap another run's: only leftovers this old are taken for a failed push's.
LEFTOVER_AGE_SECONDS = 3600


def is_object_store(path: str) -> bool:
    return path.startswith(OBJECT_STORE_SCHEMES)


def _integer_names(base_dir: str) -> List[str]:
    if not tf.io.gfile.isdir(base_dir):
        return []
    return [name.rstrip("/") for name in tf.io.gfile.listdir(base_dir) if name.rstrip("/").isdigit()]


def versions(base_dir: str) -> List[int]:
    """Committed model versions in base_dir, oldest first."""
    file_systems.register_for(base_dir)
    return sorted(int(name) for name in _integer_names(base_dir) if _is_committed(os.path.join(base_dir, name)))


def _is_committed(version_dir: str) -> bool:
    if tf.io.gfile.exists(os.path.join(version_dir, COMMIT_FILE)):
        return True
    # Local versions appear by a rename of the whole directory: unmarked, it predates the markers.
    return not is_object_store(version_dir) and tf.io.gfile.exists(os.path.join(version_dir, SAVED_MODEL_FILE))


def latest_version_dir(base_dir: str) -> Optional[str]:
    found = versions(base_dir)
    return os.path.join(base_dir, str(found[-1])) if found else None


def model_fingerprint(model_dir: str) -> Optional[bytes]:
    path = os.path.join(model_dir, FINGERPRINT_FILE)
    return tf.io.gfile.GFile(path, "rb").read() if tf.io.gfile.exists(path) else None


def serving_state(base_dir: str) -> str:
    """What serves now, as a short string that changes with every push: the newest version and a digest of its
    model fingerprint; "" when nothing is served."""
    latest = latest_version_dir(base_dir)
    if latest is None:
        return ""
    fingerprint = model_fingerprint(latest) or b""
    return f"{os.path.basename(latest)}:{hashlib.sha256(fingerprint).hexdigest()[:16]}"


def copy_tree(src: str, dst: str) -> None:
    for root, _, files in tf.io.gfile.walk(src):
        target = os.path.join(dst, os.path.relpath(root, src))
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(root, name), os.path.join(target, name), overwrite=True)


def _manifest(version_dir: str) -> Dict[str, int]:
    """Every file under version_dir (relative path -> size in bytes)."""
    return {os.path.relpath(os.path.join(root, name), version_dir): tf.io.gfile.stat(os.path.join(root, name)).length
            for root, _, files in tf.io.gfile.walk(version_dir) for name in files}


def committed_files(version_dir: str) -> Dict[str, int]:
    """The files a committed version consists of (relative path -> size), from its marker."""
    with tf.io.gfile.GFile(os.path.join(version_dir, COMMIT_FILE)) as f:
        return json.load(f)["files"]


def _commit_by_copy(staging: str, target: str, files: Dict[str, int]) -> None:
    """Copies staged files to target, the model's graph (which Serving looks for) and then the marker last."""
    last = [SAVED_MODEL_FILE] if SAVED_MODEL_FILE in files else []
    for relative_path in [p for p in sorted(files) if p not in last] + last:
        destination = os.path.join(target, relative_path)
        tf.io.gfile.makedirs(os.path.dirname(destination))
        tf.io.gfile.copy(os.path.join(staging, relative_path), destination, overwrite=True)
    _write_marker(target, files)
    tf.io.gfile.rmtree(staging)


def _write_marker(version_dir: str, files: Dict[str, int]) -> None:
    with tf.io.gfile.GFile(os.path.join(version_dir, COMMIT_FILE), "w") as f:
        f.write(json.dumps({"files": files}, sort_keys=True))


def _age_seconds(path: str, now: float) -> float:
    """Seconds since the newest file under path was written (an object store has no directory times)."""
    times = [tf.io.gfile.stat(os.path.join(root, name)).mtime_nsec / 1e9
             for root, _, files in tf.io.gfile.walk(path) for name in files]
    return now - max(times) if times else float("inf")


def clean_leftovers(base_dir: str, min_age_seconds: float = LEFTOVER_AGE_SECONDS) -> List[str]:
    """Removes what failed pushes left (staging directories, versions without a marker) at least min_age_seconds
    old; returns the removed paths."""
    if not tf.io.gfile.isdir(base_dir):
        return []
    now, removed = time.time(), []
    committed = {str(v) for v in versions(base_dir)}
    for name in (n.rstrip("/") for n in tf.io.gfile.listdir(base_dir)):
        if not (name.startswith(STAGING_PREFIX) or (name.isdigit() and name not in committed)):
            continue
        path = os.path.join(base_dir, name)
        if _age_seconds(path, now) >= min_age_seconds:
            tf.io.gfile.rmtree(path)
            removed.append(path)
    return removed


def publish(model_dir: str, base_dir: str, extras: Optional[Mapping[str, str]] = None,
            files: Optional[Mapping[str, str]] = None) -> str:
    """Copies model_dir, each extras directory and each of files (relative path -> source file) to its relative path
    inside the version, to a new committed version under base_dir; returns the version directory. Readers here never
    see it before it is complete: the commit marker lists every file."""
    file_systems.register_for(base_dir)
    tf.io.gfile.makedirs(base_dir)
    clean_leftovers(base_dir)
    staging = os.path.join(base_dir, f"{STAGING_PREFIX}{uuid.uuid4().hex}")
    copy_tree(model_dir, staging)
    for relative_path, source in (extras or {}).items():
        copy_tree(source, os.path.join(staging, relative_path))
    for relative_path, source in (files or {}).items():
        tf.io.gfile.makedirs(os.path.dirname(os.path.join(staging, relative_path)))
        tf.io.gfile.copy(source, os.path.join(staging, relative_path), overwrite=True)
    committed = _manifest(staging)
    taken = [int(name) for name in _integer_names(base_dir)]  # a failed push's number is not reused either
    version = max(int(time.time()), max(taken) + 1 if taken else 0)
    target = os.path.join(base_dir, str(version))
    if is_object_store(base_dir):
        _commit_by_copy(staging, target, committed)
    else:
        _write_marker(staging, committed)
        tf.io.gfile.rename(staging, target)
    return target
