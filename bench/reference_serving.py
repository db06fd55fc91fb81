"""The original SparrowRecSys model served the way its TensorFlow Serving deployment serves it: saved by Keras,
loaded as a SavedModel, its serving_default called with one raw tensor per feature (the JSON "instances" of its
REST requests), through its DenseFeatures and feature columns.

Latency does not depend on the weights' values, so the model is built (bench/reference_model.py), not trained:
the graph, the feature columns and the identity-column table sizes are the original's.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, Mapping

import numpy as np
import tensorflow as tf
import tf_keras

from bench import reference_model
from models import features


def request_dtypes() -> Dict[str, tf.DType]:
    """Identity columns take integers, vocabulary columns strings, numeric columns float32 (their dtype)."""
    def dtype(name: str) -> tf.DType:
        if name in reference_model.ORIGINAL_NUM_BUCKETS:
            return tf.int64
        return tf.string if features.COLUMNS_BY_NAME[name].kind == "string" else tf.float32
    return {name: dtype(name) for name in features.MODEL_FEATURE_KEYS}


def num_buckets(movie_ids: Iterable[int], user_ids: Iterable[int]) -> Dict[str, int]:
    """The original's bucket counts, grown to max id + 1 where the ids are larger (as reference_model does)."""
    ids = {features.MOVIE_KEY: movie_ids, features.USER_KEY: user_ids}
    return {key: max(buckets, max(ids[key]) + 1) for key, buckets in reference_model.ORIGINAL_NUM_BUCKETS.items()}


def export_and_load(buckets: Mapping[str, int], request: Mapping[str, np.ndarray],
                    export_dir: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """Builds the original on `request`, saves it with Keras, loads it back; a function scoring a request."""
    model = reference_model.build_model(dict(buckets))
    model(dict(request))  # builds the weights; Keras takes the serving signature's inputs from this call
    tf_keras.models.save_model(model, export_dir)
    signature = tf.saved_model.load(export_dir).signatures["serving_default"]

    def score(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        (probability,) = signature(**inputs).values()
        return probability.numpy().reshape(-1)
    return score
