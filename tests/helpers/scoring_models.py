"""Small real SavedModels with the `serve_features` signature the serving code calls: P(like) from a table of
(userId, movieId) pairs, so that a test decides how good a model's top N is (which movies it prefers for whom), and
the catalogue pass, ServingBaseline, the Pusher and `recommend` run on them as on a trained model."""
from __future__ import annotations

from typing import Iterable, Mapping

import tensorflow as tf
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from models import features, signatures

PREFERRED, OTHER = 0.9, 0.05  # P(like) of a preferred movie and of any other


_USER_STRIDE = 1 << 32  # a (user, movie) pair's key: user x stride + movie


class _PreferenceModel(tf.Module):
    def __init__(self, preferred: Mapping[int, Iterable[int]]):
        super().__init__()
        keys = sorted({user * _USER_STRIDE + movie for user, movies in preferred.items() for movie in movies}) or [-1]
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64), tf.fill([len(keys)], PREFERRED)),
            default_value=OTHER)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name=features.MOVIE_KEY),
                                  tf.TensorSpec([None], tf.int64, name=features.USER_KEY)])
    def serve_features(self, movie_id, user_id):
        return {signatures.PROBABILITY_KEY: self.table.lookup(user_id * _USER_STRIDE + movie_id)}


def save(uri: str, preferred: Mapping[int, Iterable[int]]) -> standard_artifacts.Model:
    """A Model artifact at uri whose SavedModel (under TFX's serving model dir) gives P(like) PREFERRED to each
    user's preferred movies (userId -> movieIds) and OTHER to every other pair."""
    module = _PreferenceModel(preferred)
    tf.saved_model.save(module, path_utils.serving_model_dir(uri),
                        signatures={signatures.FEATURES_SIGNATURE: module.serve_features.get_concrete_function()})
    model = standard_artifacts.Model()
    model.uri = uri
    return model
