"""tf.Transform `preprocessing_fn`: vocabularies with OOV buckets, z-scores, missing values, slice buckets.

Transform learns every statistic over the training split only, and its graph is inside the exported model, so
training, evaluation and serving apply exactly the same preprocessing.
"""
from __future__ import annotations

import collections
from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from models import features

_Tensor = tf.Tensor | tf.SparseTensor

# Trace preprocessing_fn as a TF1 graph: identical vocabularies and values, and a faster Transform, where TF2 mode
# traces the function several times (analysis, schema, SavedModel).
# The Trainer and serving load it through the same TF2 `transform_features_layer` either way.
FORCE_TF_COMPAT_V1 = True


def _dense(x: _Tensor, default) -> tf.Tensor:
    """A [batch] tensor from a dense [batch, 1] or a sparse (optional) feature, `default` where missing."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default)
    return tf.reshape(x, [-1])


def _as_category(x: _Tensor) -> tf.Tensor:
    """Categories as strings: ids are integers in the CSV, vocabularies are over strings."""
    if x.dtype == tf.string:
        x = _dense(x, features.MISSING_CATEGORY)
        return tf.where(tf.equal(x, ""), features.MISSING_CATEGORY, x)
    return tf.strings.as_string(_dense(x, tf.constant(-1, x.dtype)))


def _z_score(x: _Tensor, log1p: bool) -> tf.Tensor:
    """Z-score over the present values; a missing value becomes the mean, i.e. 0."""
    values = x.values if isinstance(x, tf.SparseTensor) else tf.reshape(x, [-1])
    values = tf.cast(values, tf.float32)
    if log1p:
        values = tf.math.log1p(tf.maximum(values, 0.0))
    mean, var = tft.mean(values), tft.var(values)
    std = tf.sqrt(tf.maximum(var, 1e-12))
    if isinstance(x, tf.SparseTensor):
        scaled = tf.SparseTensor(x.indices, (values - mean) / std, x.dense_shape)
        return _dense(scaled, 0.0)
    return (values - mean) / std


def _vocabularies(inputs: Dict[str, _Tensor]) -> Dict[str, tf.Tensor]:
    """Each categorical feature as vocabulary indices; features sharing a vocabulary learn it over all their values."""
    categories = {f.name: _as_category(inputs[f.name]) for f in features.CATEGORICAL_FEATURES}
    by_vocabulary = collections.defaultdict(list)
    for feature in features.CATEGORICAL_FEATURES:
        by_vocabulary[feature.vocabulary].append(feature)
    outputs = {}
    for name, members in by_vocabulary.items():
        frequency_thresholds = {f.min_frequency for f in members}
        if len(frequency_thresholds) != 1:
            raise ValueError(f"features sharing the vocabulary {name!r} set different min_frequency")
        vocabulary = tft.vocabulary(
            tf.concat([categories[f.name] for f in members], axis=0),
            frequency_threshold=frequency_thresholds.pop() or None, vocab_filename=name)
        for feature in members:
            outputs[features.transformed_name(feature.name)] = tft.apply_vocabulary(
                categories[feature.name], vocabulary, num_oov_buckets=feature.oov_buckets)
    return outputs


def preprocessing_fn(inputs: Dict[str, _Tensor]) -> Dict[str, tf.Tensor]:
    outputs = _vocabularies(inputs)
    for feature in features.NUMERIC_FEATURES:
        outputs[features.transformed_name(feature.name)] = _z_score(inputs[feature.name], feature.log1p)
    for bucket in features.SLICE_BUCKETS:
        source = tf.cast(_dense(inputs[bucket.source], -1), tf.float32)
        outputs[bucket.name] = tft.apply_buckets(
            tf.expand_dims(source, -1), tf.constant([bucket.boundaries]))[:, 0]
    outputs[features.TRANSFORMED_LABEL_KEY] = tf.cast(_dense(inputs[features.LABEL_KEY], 0), tf.float32)
    # 0 for SampleGen's sampled negatives; a real rating (every CSV sample) has no `rated`: 1.
    outputs[features.TRANSFORMED_RATED_KEY] = tf.cast(_dense(inputs[features.RATED_KEY], 1), tf.float32)
    outputs[features.TRANSFORMED_TIME_KEY] = tf.cast(_dense(inputs[features.TIME_KEY], 0), tf.int64)
    return outputs
