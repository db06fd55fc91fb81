"""TFX Trainer entry point (`run_fn`): train the Embedding+MLP on Transform's output and export it for serving."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from typing import List, Optional, Tuple

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from compat.keras import keras
from models import model as model_lib
from models import signatures, warm_start


class _Throughput(keras.callbacks.Callback):
    """Training examples/s per epoch, validation excluded; the first epoch includes tracing, so steady state is 2+.

    No batch-level hooks: Keras calls those every step and converts their logs to numpy, which would put Python
    work and a device sync in every step of the loop being measured.
    """

    def __init__(self, examples_per_epoch: int):
        super().__init__()
        self.examples_per_epoch = examples_per_epoch
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._train_end = time.perf_counter(), None

    def on_test_begin(self, logs=None):  # validation starts: training steps of this epoch are over
        self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._train_end or time.perf_counter()) - self._start
        self.epochs.append({"epoch": epoch + 1, "seconds": round(seconds, 3),
                            "examples_per_second": round(self.examples_per_epoch / seconds, 1),
                            **{k: round(float(v), 5) for k, v in (logs or {}).items()}})


# Set by the pipeline so that a code change invalidates the cache; not a hyperparameter.
CODE_VERSION_KEY = "code_version"


def _sized(batches: tf.data.Dataset) -> Tuple[tf.data.Dataset, int]:
    """The batches with their count declared, and the number of examples: Keras runs several steps per call
    (steps_per_execution) only over data of known size, and filtering by hash leaves the size unknown."""
    counts = batches.map(lambda features, *labels: tf.shape(features[next(iter(features))], tf.int64)[0])
    steps, examples = counts.reduce((tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
                                    lambda total, n: (total[0] + 1, total[1] + n))
    return batches.apply(tf.data.experimental.assert_cardinality(steps)), int(examples)


def fit(train_files: List[str], tft_output: tft.TFTransformOutput, hparams: model_lib.HParams,
        train_steps: Optional[int] = None, cache_dir: Optional[str] = None,
        warm_start_from: Optional[str] = None) -> Tuple[keras.Model, dict]:
    """Trains on Transform's output: the model (best validation epoch's weights) and the training summary.

    With early stopping off (patience 0) there is no validation split: every training record trains.
    The records are cached in files for the epochs after the first, so memory does not grow with the data:
    in cache_dir, or in a temporary directory removed afterwards.
    warm_start_from: a served version's directory to initialise the model from (models/warm_start.py); "" when
    nothing serves (cold, said in the summary); None: warm start is off.
    """
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="trainer-cache-") as temporary:
            return fit(train_files, tft_output, hparams, train_steps, temporary, warm_start_from)
    keras.utils.set_random_seed(hparams.seed)
    records, negatives = model_lib.sampled_negatives(train_files)
    rate_head = negatives > 0  # trained with SampleGen's sampled negatives: the "will rate" head too
    validate = hparams.early_stopping_patience > 0
    parts = ("train", "validation") if validate else ("all",)
    in_validation = model_lib.validation_records(train_files, hparams) if validate else None
    datasets = {
        part: model_lib.make_dataset(train_files, tft_output, hparams.batch_size, part, in_validation,
                                     shuffle_seed=hparams.seed if part != "validation" else None,
                                     cache_file=os.path.join(cache_dir, part), heads=rate_head)
        for part in parts}
    # One counting pass each; it also fills the datasets' caches, so epochs only differ by tracing.
    train_data, examples_per_epoch = _sized(datasets[parts[0]])
    validation_data = _sized(datasets["validation"])[0] if validate else None
    epochs = hparams.max_epochs
    steps_per_epoch = None
    if train_steps:  # a step budget (e.g. a run-time parameter) caps training
        steps_per_epoch = max(1, train_steps // epochs)
        examples_per_epoch = steps_per_epoch * hparams.batch_size
        train_data = train_data.repeat()

    # The liked loss weighs as much per real rating as without negatives: only those carry it.
    model = model_lib.build_model(model_lib.vocabulary_sizes(tft_output), hparams, rate_head,
                                  like_loss_weight=records / (records - negatives) if rate_head else 1.0)
    started = None if warm_start_from is None else warm_start.initialise(model, warm_start_from, tft_output)
    throughput = _Throughput(examples_per_epoch)
    callbacks = [throughput]
    if validate:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=model_lib.validation_metric(model), mode="max", patience=hparams.early_stopping_patience,
            restore_best_weights=True))
    history = model.fit(train_data, validation_data=validation_data, epochs=epochs,
                        steps_per_epoch=steps_per_epoch, verbose=0, callbacks=callbacks)
    steady = [e["examples_per_second"] for e in throughput.epochs[1:]]
    return model, {
        "hparams": dataclasses.asdict(hparams),
        "epochs_run": len(history.epoch),
        "sampled_negatives": negatives,
        "train_examples_per_epoch": examples_per_epoch,
        "epochs": throughput.epochs,
        "steady_examples_per_second": round(sum(steady) / len(steady), 1) if steady else None,
        "warm_start": started.to_dict() if started else None,
    }


def train(fn_args: FnArgs) -> dict:
    """Trains and exports; returns the training summary written next to the model."""
    config = {k: v for k, v in (fn_args.custom_config or {}).items()
              if k not in (CODE_VERSION_KEY, warm_start.WARM_START_KEY)}
    hparams = model_lib.HParams.from_config(config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    model, summary = fit(fn_args.train_files, tft_output, hparams, fn_args.train_steps,
                         warm_start_from=(fn_args.custom_config or {}).get(warm_start.WARM_START_KEY))
    # Serving and TFMA call the signatures only: per-layer Keras traces would only slow the save.
    model.save(fn_args.serving_model_dir, save_format="tf", save_traces=False,
               signatures=signatures.make_signatures(model, tft_output, hparams.negatives_popularity_cap))
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(f"{fn_args.model_run_dir}/training_summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    logging.info("Training summary: %s", json.dumps(summary))
    return summary


def run_fn(fn_args: FnArgs) -> None:
    train(fn_args)
