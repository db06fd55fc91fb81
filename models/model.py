"""The Embedding+MLP (Deep Crossing) model and its input pipeline over Transform's output.

Feature layer -> one embedding per categorical feature (sized from Transform's vocabularies) -> stacking with the
normalized numerics -> MLP -> sigmoid score: P(liked | rated). Trained with SampleGen's sampled negatives, a second
sigmoid head on the same MLP, P(rated), learns "will rate" from real ratings against the negatives, while the first
learns from the real ratings only; top-N ranks by their product, P(rated and liked).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from compat.keras import keras
from models import features


@dataclasses.dataclass(frozen=True)
class HParams:
    """Training hyperparameters; every field can be set from the pipeline's Trainer custom_config."""
    # 1024, not 256: on time-split data a smaller batch memorises the training period within the first epoch
    # (bench/README.md: bench_model on ml-latest-small-2015 and the sparrow split).
    batch_size: int = 1024
    learning_rate: float = 1e-3
    max_epochs: int = 10
    early_stopping_patience: int = 2  # 0: no early stopping, no validation split, max_epochs on all records
    # The early-stopping validation set is drawn as eval is: "time" holds out the latest fraction of the training
    # records by rating time (the future of the records that train, as eval is on time-split data); "random" a
    # fraction drawn by a hash of each rating (as eval is on a random split). The pipeline sets it from its input.
    validation_split: str = "time"  # TIME_VALIDATION or RANDOM_VALIDATION
    validation_fraction: float = 0.1
    hidden_units: Tuple[int, ...] = (128, 128)
    l2: float = 0.0
    dropout: float = 0.0
    embedding_dim: int = 0  # one size for every vocabulary in place of features.py's per-vocabulary sizes (ablation)
    # SampleGen's negatives_popularity_cap, which the served ranking undoes (the pipeline sets it from SampleGen).
    negatives_popularity_cap: int = 0
    # Whether the model reads the features that know time (features.TIME_FEATURE_KEYS); the data and the serving
    # signatures carry them either way. Off: on the replay they changed no period's served top 10 for the better
    # (docs/experiments.md).
    time_features: bool = False
    seed: int = 42

    @classmethod
    def from_config(cls, config: Optional[dict]) -> "HParams":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config or {}) - known
        if unknown:
            raise ValueError(f"Unknown hyperparameters {sorted(unknown)}; known: {sorted(known)}")
        values = dict(config or {})
        if "hidden_units" in values:
            values["hidden_units"] = tuple(values["hidden_units"])
        return cls(**values)

    def __post_init__(self):
        if self.validation_split not in VALIDATION_SPLITS:
            raise ValueError(f"Unknown validation_split {self.validation_split!r}; known: {VALIDATION_SPLITS}")


TIME_VALIDATION, RANDOM_VALIDATION = VALIDATION_SPLITS = ("time", "random")
VALIDATION_SPLIT_HPARAM = "validation_split"  # HParams' fields, as custom_config names them
POPULARITY_CAP_HPARAM = "negatives_popularity_cap"


# Training steps per call into the compiled loop: one Python round trip per step would cost more than the step
# itself for a model this small (measured at batch 256 on 2 loaded cores: 46.7k examples/s with 32, 26.7k with 1).
STEPS_PER_EXECUTION = 32


def vocabulary_sizes(tft_output: tft.TFTransformOutput) -> Dict[str, int]:
    """Embedding input size per categorical feature: learned vocabulary plus OOV buckets."""
    return {f.name: tft_output.vocabulary_size_by_name(f.vocabulary) + f.oov_buckets
            for f in features.CATEGORICAL_FEATURES}


# The heads' layer names, which Keras' metric names begin with.
LIKE_OUTPUT = "score"  # P(liked | rated)
RATE_OUTPUT = "rate_score"  # P(rated): only in a model trained with sampled negatives


def has_rate_head(model: keras.Model) -> bool:
    return isinstance(model.output, dict)


def liked_probability(model: keras.Model, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
    outputs = model(inputs, training=False)
    return outputs[LIKE_OUTPUT] if isinstance(outputs, dict) else outputs


def build_model(vocab_sizes: Dict[str, int], hparams: HParams, rate_head: bool = False,
                like_loss_weight: float = 1.0) -> keras.Model:
    """rate_head: the P(rated) head too, for data with sampled negatives (see `make_dataset`'s `heads`);
    like_loss_weight scales the liked loss, which only the real ratings (a fraction of each batch) carry."""
    regularizer = keras.regularizers.l2(hparams.l2) if hparams.l2 else None
    inputs = {}
    stacked: List[tf.Tensor] = []
    for feature in features.CATEGORICAL_FEATURES:
        key = features.transformed_name(feature.name)
        inputs[key] = keras.Input(shape=(), name=key, dtype=tf.int64)
        embedding = keras.layers.Embedding(
            vocab_sizes[feature.name], hparams.embedding_dim or feature.embedding_dim,
            embeddings_regularizer=regularizer, name=f"{feature.name}_embedding")(inputs[key])
        stacked.append(embedding)
    numeric_inputs = []
    for feature in features.NUMERIC_FEATURES:
        key = features.transformed_name(feature.name)
        inputs[key] = keras.Input(shape=(), name=key, dtype=tf.float32)
        if hparams.time_features or feature.name not in features.TIME_FEATURE_KEYS:
            numeric_inputs.append(inputs[key])
    stacked.append(keras.layers.Lambda(lambda xs: tf.stack(xs, axis=-1), name="numerics")(numeric_inputs))
    x = keras.layers.Concatenate(name="stacking")(stacked)
    for i, units in enumerate(hparams.hidden_units):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer, name=f"mlp_{i}")(x)
        if hparams.dropout:
            x = keras.layers.Dropout(hparams.dropout, seed=hparams.seed)(x)
    score = keras.layers.Dense(1, activation="sigmoid", name=LIKE_OUTPUT)(x)
    liked_metrics = [keras.metrics.AUC(name="roc_auc"), keras.metrics.AUC(curve="PR", name="pr_auc"),
                     keras.metrics.BinaryAccuracy(name="accuracy")]
    optimizer = keras.optimizers.Adam(hparams.learning_rate)
    if not rate_head:
        model = keras.Model(inputs=inputs, outputs=score)
        model.compile(optimizer=optimizer, loss="binary_crossentropy", steps_per_execution=STEPS_PER_EXECUTION,
                      metrics=liked_metrics)
        return model
    rate = keras.layers.Dense(1, activation="sigmoid", name=RATE_OUTPUT)(x)
    model = keras.Model(inputs=inputs, outputs={LIKE_OUTPUT: score, RATE_OUTPUT: rate})
    # Weighted metrics: the liked ones over the real ratings only (a negative's weight is 0), as eval's AUC is.
    model.compile(optimizer=optimizer, steps_per_execution=STEPS_PER_EXECUTION,
                  loss={LIKE_OUTPUT: "binary_crossentropy", RATE_OUTPUT: "binary_crossentropy"},
                  loss_weights={LIKE_OUTPUT: like_loss_weight, RATE_OUTPUT: 1.0},
                  weighted_metrics={LIKE_OUTPUT: liked_metrics, RATE_OUTPUT: [keras.metrics.AUC(name="roc_auc")]})
    return model


def validation_metric(model: keras.Model) -> str:
    """What early stopping watches: the liked ROC AUC on the validation records (real ratings)."""
    return f"val_{LIKE_OUTPUT}_roc_auc" if has_rate_head(model) else "val_roc_auc"


def sampled_negatives(file_pattern: List[str]) -> Tuple[int, int]:
    """(records, sampled negatives among them) of Transform's output."""
    spec = {features.TRANSFORMED_RATED_KEY: tf.io.FixedLenFeature([], tf.float32)}
    rated = _records(file_pattern).batch(4096).map(
        lambda batch: tf.io.parse_example(batch, spec)[features.TRANSFORMED_RATED_KEY])
    records, negatives = 0, 0
    for values in rated.as_numpy_iterator():
        records += len(values)
        negatives += int((values == 0).sum())
    return records, negatives


def _parsed_ints(record: tf.Tensor, keys: Sequence[str]) -> Dict[str, tf.Tensor]:
    return tf.io.parse_single_example(record, {key: tf.io.FixedLenFeature([], tf.int64) for key in keys})


def _timestamp(record: tf.Tensor) -> tf.Tensor:
    return _parsed_ints(record, [features.TRANSFORMED_TIME_KEY])[features.TRANSFORMED_TIME_KEY]


def _records(file_pattern: List[str]) -> tf.data.Dataset:
    files = tf.data.Dataset.list_files(file_pattern, shuffle=False)
    return tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)


def validation_start(file_pattern: List[str], fraction: float) -> int:
    """The rating time from which the latest `fraction` of the records is held out: the exact quantile, so the
    same records validate in every run (a hash of the serialized record moved with its encoding)."""
    times = np.sort(np.fromiter(_records(file_pattern).map(_timestamp).as_numpy_iterator(), np.int64))
    if not len(times):
        raise ValueError(f"no training records in {file_pattern}")
    start = int(times[min(len(times) - 1, round((1.0 - fraction) * (len(times) - 1)))])
    if start == times[0]:
        raise ValueError(f"the latest {fraction:.0%} of the training records by time would be all of them "
                         f"({len(times)} records, rated from {times[0]} to {times[-1]}): set the hyperparameter "
                         "validation_fraction higher, or early_stopping_patience=0 to train without validation")
    return start


# A record's place in the random validation split: a fixed hash of what identifies its rating (user, movie, time),
# not of its serialized bytes, so it does not move with the encoding, and not of the seed, so every seed validates
# on the same records.
_RATING_ID_KEYS = tuple(features.transformed_name(k) for k in (features.USER_KEY, features.MOVIE_KEY)) + (
    features.TRANSFORMED_TIME_KEY,)
_HASH_BUCKETS = 10_000


def _rating_hash(record: tf.Tensor) -> tf.Tensor:
    parsed = _parsed_ints(record, _RATING_ID_KEYS)  # one parse for the three ids
    ids = [tf.strings.as_string(parsed[key]) for key in _RATING_ID_KEYS]
    return tf.strings.to_hash_bucket_strong(tf.strings.join(ids, ","), _HASH_BUCKETS, [0, 0])


Validation = Callable[[tf.Tensor], tf.Tensor]  # a record -> whether it is a validation record


def validation_records(file_pattern: List[str], hparams: "HParams") -> Validation:
    """Which training records validate, drawn as hparams.validation_split says."""
    if hparams.validation_split == RANDOM_VALIDATION:
        threshold = round(hparams.validation_fraction * _HASH_BUCKETS)
        return lambda record: _rating_hash(record) < threshold
    start = validation_start(file_pattern, hparams.validation_fraction)
    return lambda record: _timestamp(record) >= start


def make_dataset(file_pattern: List[str], tft_output: tft.TFTransformOutput, batch_size: int,
                 part: str = "all", in_validation: Optional[Validation] = None, shuffle_seed: Optional[int] = None,
                 cache_file: str = "", heads: bool = False) -> tf.data.Dataset:
    """(features, label) batches streamed from Transform's gzipped TFRecords.

    heads: (features, labels, sample weights) for the two-head model instead: the liked label weighted by
    `rated` (a sampled negative says nothing about liking), the rated label on every record.

    part: "train" keeps the records that are not `in_validation` (see `validation_records`), "validation" the
    others; "all" keeps every record. Whole batches are parsed at once.
    cache_file: where the first pass caches the kept records (decompressed), so later epochs neither inflate nor
    filter again; "" caches them in memory, which grows with the data.
    """
    records = _records(file_pattern)
    if part != "all":
        want_validation = part == "validation"
        records = records.filter(lambda r: tf.equal(in_validation(r), want_validation))
    records = records.cache(cache_file)
    if shuffle_seed is not None:
        records = records.shuffle(50_000, seed=shuffle_seed, reshuffle_each_iteration=True)
    spec = tft_output.transformed_feature_spec()
    label_key = features.TRANSFORMED_LABEL_KEY
    model_keys = [features.transformed_name(k) for k in features.MODEL_FEATURE_KEYS]

    def parse(batch):
        parsed = tf.io.parse_example(batch, spec)
        inputs = {k: parsed[k] for k in model_keys}
        if not heads:
            return inputs, parsed[label_key]
        rated = parsed[features.TRANSFORMED_RATED_KEY]
        return (inputs, {LIKE_OUTPUT: parsed[label_key], RATE_OUTPUT: rated},
                {LIKE_OUTPUT: rated, RATE_OUTPUT: tf.ones_like(rated)})

    return (records.batch(batch_size)
            .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
