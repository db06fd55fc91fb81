"""The serving directory as TensorFlow Serving reads it: `<base>/<integer version>/saved_model.pb`.

A version appears by one atomic rename of a fully written directory, so a reader polling the base directory
never sees a partial model; staging directories start with "." and are not integers, which Serving ignores.
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from typing import List, Mapping, Optional

import tensorflow as tf

FINGERPRINT_FILE = "fingerprint.pb"  # written by tf.saved_model.save: a checksum of the model's contents
# The features to serve the model with, published inside its version; Serving reads only its warmup file there.
FEATURE_SNAPSHOT_DIR = os.path.join("assets.extra", "feature_snapshot")


def versions(base_dir: str) -> List[int]:
    """Complete model versions in base_dir, oldest first."""
    if not tf.io.gfile.isdir(base_dir):
        return []
    found = []
    for name in tf.io.gfile.listdir(base_dir):
        name = name.rstrip("/")
        if name.isdigit() and tf.io.gfile.exists(os.path.join(base_dir, name, "saved_model.pb")):
            found.append(int(name))
    return sorted(found)


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


def publish(model_dir: str, base_dir: str, extras: Optional[Mapping[str, str]] = None) -> str:
    """Copies model_dir, and each extras directory to its relative path inside the version, to a new version
    under base_dir atomically; returns the version directory."""
    tf.io.gfile.makedirs(base_dir)
    staging = os.path.join(base_dir, f".staging-{uuid.uuid4().hex}")
    copy_tree(model_dir, staging)
    for relative_path, source in (extras or {}).items():
        copy_tree(source, os.path.join(staging, relative_path))
    existing = versions(base_dir)
    version = max(int(time.time()), existing[-1] + 1 if existing else 0)
    target = os.path.join(base_dir, str(version))
    tf.io.gfile.rename(staging, target)
    return target
