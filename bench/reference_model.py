"""The original SparrowRecSys Embedding+MLP (TFRecModel/.../tensorflow/EmbeddingMLP.py), as the benchmark reference.

Faithful to the published recipe: feature columns into DenseFeatures, no normalization, Dense(128)x2 + sigmoid,
adam, batch 12, 5 epochs, make_csv_dataset(label_name='label', na_value="0", ignore_errors=True) with its default
10,000-example shuffle buffer. Departures, each needed to run or to measure:
- tf_keras instead of tf.keras: Keras 3 (TF 2.16) dropped feature columns and DenseFeatures.
- Column defaults are explicit ("" for strings, 0 for numbers), the values make_csv_dataset infers for the original;
  inference from the first 100 rows could type a column wrongly and ignore_errors would then drop rows silently.
- Identity columns grow past the original's 1001/30001 buckets when the data has larger ids (out of range would fail).
- Eval metrics are computed by bench.common.binary_metrics (exact) rather than the Keras AUC approximation.
- fit runs with verbose=0: a progress bar is console I/O, not the model.
"""
from __future__ import annotations

import csv
import os
import sys
import time
from typing import Dict, List, Sequence

import pandas as pd
import tensorflow as tf
import tf_keras

from bench import common
from models import features

ORIGINAL_NUM_BUCKETS = {features.MOVIE_KEY: 1001, features.USER_KEY: 30001}
EVAL_BATCH_SIZE = 1024  # prediction only: the batch size does not change the scores


def identity_buckets(paths: Sequence[os.PathLike], key: str) -> int:
    """The original's bucket count for `key`, or max id + 1 if the data has larger ids."""
    max_id = max(int(pd.read_csv(p, usecols=[key])[key].max()) for p in paths)
    return max(ORIGINAL_NUM_BUCKETS[key], max_id + 1)


def feature_columns(num_buckets: Dict[str, int]) -> List:
    numeric = [tf.feature_column.numeric_column(k) for k in common.NUMERIC_KEYS]
    genres = [tf.feature_column.embedding_column(
        tf.feature_column.categorical_column_with_vocabulary_list(k, features.GENRES), features.EMBEDDING_DIM)
        for k in common.GENRE_KEYS]
    ids = [tf.feature_column.embedding_column(
        tf.feature_column.categorical_column_with_identity(k, num_buckets=num_buckets[k]), features.EMBEDDING_DIM)
        for k in (features.MOVIE_KEY, features.USER_KEY)]
    return numeric + genres + ids


def build_model(num_buckets: Dict[str, int]) -> tf_keras.Model:
    model = tf_keras.Sequential([
        tf_keras.layers.DenseFeatures(feature_columns(num_buckets)),
        tf_keras.layers.Dense(128, activation="relu"),
        tf_keras.layers.Dense(128, activation="relu"),
        tf_keras.layers.Dense(1, activation="sigmoid"),
    ])
    # The original's training metrics are kept: they are part of its per-step cost, so of the throughput measured.
    model.compile(loss="binary_crossentropy", optimizer="adam",
                  metrics=["accuracy", tf_keras.metrics.AUC(curve="ROC"), tf_keras.metrics.AUC(curve="PR")])
    return model


def _column_defaults(path: os.PathLike) -> list:
    # int64 rather than the inferred int32: a timestamp after 2038 would otherwise be a parse error (a dropped row).
    defaults = {"int": tf.constant([0], tf.int64), "float": tf.constant([0.0], tf.float32)}
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    return [defaults.get(getattr(features.COLUMNS_BY_NAME.get(name), "kind", "string"), tf.constant([""]))
            for name in header]


def make_dataset(path: os.PathLike, batch_size: int, shuffle: bool) -> tf.data.Dataset:
    return tf.data.experimental.make_csv_dataset(
        str(path), batch_size=batch_size, column_defaults=_column_defaults(path), label_name=features.LABEL_KEY,
        na_value="0", num_epochs=1, shuffle=shuffle, ignore_errors=True)


def count_examples(dataset: tf.data.Dataset) -> int:
    """Examples that survive parsing (ignore_errors drops bad rows silently, so the CSV's line count may lie)."""
    return int(dataset.reduce(tf.constant(0), lambda n, batch: n + tf.shape(batch[1])[0]))


class EpochTimer(tf_keras.callbacks.Callback):
    """Wall and CPU seconds (all threads) of every epoch."""

    def on_train_begin(self, logs=None):
        self.wall, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])


def train_and_evaluate(train_csv: os.PathLike, eval_csv: os.PathLike, seed: int, epochs: int = 5,
                       batch_size: int = 12) -> Dict[str, float]:
    """Trains the original recipe and scores it on eval_csv.

    Throughput is steady state, epochs 2..N: the first epoch also traces the train function. Examples per
    CPU second (process time, all threads) is reported too: wall-clock figures sink when the machine is shared.
    """
    if epochs < 2:
        raise ValueError("steady-state throughput excludes the first epoch, so epochs must be >= 2")
    tf_keras.utils.set_random_seed(seed)  # weights and the shuffle order
    model = build_model({k: identity_buckets([train_csv, eval_csv], k) for k in ORIGINAL_NUM_BUCKETS})
    train = make_dataset(train_csv, batch_size, shuffle=True)
    n_train = count_examples(train)
    timer = EpochTimer()
    model.fit(train, epochs=epochs, callbacks=[timer], verbose=0)

    eval_ds = make_dataset(eval_csv, EVAL_BATCH_SIZE, shuffle=False)
    labels = tf.concat([y for _, y in eval_ds], axis=0).numpy()
    scores = model.predict(eval_ds, verbose=0)
    return {
        **common.binary_metrics(labels, scores),
        "train_examples": n_train,
        "steady_examples_per_sec": n_train * (epochs - 1) / sum(timer.wall[1:]),
        "steady_examples_per_cpu_sec": n_train * (epochs - 1) / sum(timer.cpu[1:]),
        "first_epoch_seconds": timer.wall[0],
    }


if __name__ == "__main__":
    common.seeds_cli("reference_model", train_and_evaluate, sys.argv[1:])
