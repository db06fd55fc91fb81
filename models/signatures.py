"""Serving signatures: raw features in, the same Transform graph as training, a probability out.

- `serving_default`: serialized tf.Example (what TensorFlow Serving's predict/classify APIs send).
- `serve_features`: one dense tensor per raw model feature, for batched candidate scoring without building
  tf.Examples; a missing value is "" for strings and NaN for numbers (optional integer features are float64
  inputs for that reason: a movie without a release year is a real case). A model with the "will rate" head also
  returns P(rated) and the rank score (`rank_scores`).
- `transform_features`: serialized tf.Example -> transformed features, for TFMA's slicing and the Evaluator.
"""
from __future__ import annotations

import functools
from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from compat.keras import keras
from models import features
from models import model as model_lib

PROBABILITY_KEY = "probability"  # P(liked | rated)
RATE_PROBABILITY_KEY = "rate_probability"  # P(rated), serve_features only, from a model with the "will rate" head
# serve_features only, with the "will rate" head: what top N ranks by, proportional to P(rated and liked).
RANK_SCORE_KEY = "rank_score"
SERVING_SIGNATURE = "serving_default"
FEATURES_SIGNATURE = "serve_features"
TRANSFORM_SIGNATURE = "transform_features"


def serving_feature_spec(tft_output: tft.TFTransformOutput) -> Dict[str, tf.io.FixedLenFeature]:
    """The raw features a request carries: the model's, nothing else (no label, rating or rating time)."""
    spec = tft_output.raw_feature_spec()
    return {name: spec[name] for name in features.MODEL_FEATURE_KEYS}


# The signatures are plain graph code (no Python control flow on tensors): AutoGraph would only spend seconds
# converting them and the TFT helpers they call at export.
_graph_function = functools.partial(tf.function, autograph=False)


def _request_dtype(spec) -> tf.DType:
    """An optional integer travels as float64, so NaN can mark it missing (exact up to 2**53)."""
    return tf.float64 if isinstance(spec, tf.io.VarLenFeature) and spec.dtype.is_integer else spec.dtype


def _raw_input_specs(tft_output: tft.TFTransformOutput) -> Dict[str, tf.TensorSpec]:
    return {name: tf.TensorSpec([None], _request_dtype(spec), name=name)
            for name, spec in serving_feature_spec(tft_output).items()}


def _dense_to_raw(name: str, value: tf.Tensor, spec) -> tf.Tensor:
    """A dense [batch] request tensor in the parsed form the Transform graph expects."""
    if isinstance(spec, tf.io.FixedLenFeature):
        return tf.reshape(value, [-1, 1])
    present = tf.not_equal(value, "") if value.dtype == tf.string else tf.logical_not(tf.math.is_nan(value))
    indices = tf.where(tf.expand_dims(present, -1))
    return tf.SparseTensor(indices, tf.cast(tf.gather_nd(tf.expand_dims(value, -1), indices), spec.dtype),
                           tf.stack([tf.shape(value, out_type=tf.int64)[0], 1]))


def rank_scores(liked: tf.Tensor, rated: tf.Tensor, rating_count: tf.Tensor, popularity_cap: int) -> tf.Tensor:
    """P(liked | rated) x P(rated), up to a constant per user. The "will rate" head is trained against sampled
    negatives, so its odds are P(rated) over the probability a negative is drawn: the draws are uniform (cap 0),
    or follow min(cap, rating count + 1) (SampleGen's negatives_popularity_cap), which multiplies back in."""
    odds = rated / tf.maximum(1.0 - rated, 1e-7)
    if not popularity_cap:
        return liked * odds
    count = tf.cast(tf.where(tf.math.is_nan(rating_count), tf.zeros_like(rating_count), rating_count), odds.dtype)
    return liked * odds * tf.reshape(tf.minimum(float(popularity_cap), count + 1.0), tf.shape(odds))


def make_signatures(model: keras.Model, tft_output: tft.TFTransformOutput, popularity_cap: int = 0) -> dict:
    """popularity_cap: SampleGen's negatives_popularity_cap for the data the model was trained on."""
    model.tft_layer = tft_output.transform_features_layer()  # tracked, so the TFT assets are saved too
    model_keys = [features.transformed_name(k) for k in features.MODEL_FEATURE_KEYS]

    def score(raw_features):
        transformed = model.tft_layer(raw_features)
        outputs = model({k: transformed[k] for k in model_keys})
        if not isinstance(outputs, dict):
            return {PROBABILITY_KEY: outputs}
        return {PROBABILITY_KEY: outputs[model_lib.LIKE_OUTPUT], RATE_PROBABILITY_KEY: outputs[model_lib.RATE_OUTPUT]}

    @_graph_function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):  # the liked probability alone: what TFMA and TF Serving's clients read
        scores = score(tf.io.parse_example(serialized, serving_feature_spec(tft_output)))
        return {PROBABILITY_KEY: scores[PROBABILITY_KEY]}

    raw_spec = tft_output.raw_feature_spec()
    input_specs = _raw_input_specs(tft_output)

    @_graph_function(input_signature=[input_specs])
    def serve_features(request):
        scores = score({name: _dense_to_raw(name, value, raw_spec[name]) for name, value in request.items()})
        if RATE_PROBABILITY_KEY in scores:
            scores[RANK_SCORE_KEY] = rank_scores(scores[PROBABILITY_KEY], scores[RATE_PROBABILITY_KEY],
                                                 request[features.MOVIE_RATING_COUNT_KEY], popularity_cap)
        return scores

    @_graph_function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    return {
        SERVING_SIGNATURE: serve_examples,
        FEATURES_SIGNATURE: serve_features,
        TRANSFORM_SIGNATURE: transform_features,
    }
