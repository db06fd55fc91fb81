"""What the AtomicPusher's tests push: a small real SavedModel and a one-movie feature snapshot."""
from __future__ import annotations

import os

import tensorflow as tf
from tfx.types import standard_artifacts

from components.atomic_pusher import spec
from models.sample_features import Movie
from recommender import snapshot


def saved_model(path: str) -> standard_artifacts.Model:
    """A Model artifact holding a SavedModel whose `score` doubles its input."""
    module = tf.Module()
    module.weight = tf.Variable(2.0)
    module.score = tf.function(lambda x: x * module.weight, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, os.path.join(path, "Format-Serving"))
    model = standard_artifacts.Model()
    model.uri = path
    return model


def feature_snapshot(path: str, title: str):
    """A feature snapshot artifact of one movie with this title."""
    os.makedirs(path)
    with open(os.path.join(path, f"{snapshot.MOVIES_PREFIX}-00000-of-00001{snapshot.ENTRY_SUFFIX}"), "w") as f:
        f.write(snapshot.to_line(snapshot.movie_entry(Movie(1, 1995, ("Drama",)), title, [])) + "\n")
    snapshot.write_manifest(path)
    artifact = spec.AtomicPusherSpec.INPUTS[spec.FEATURE_SNAPSHOT_KEY].type()
    artifact.uri = path
    return artifact
