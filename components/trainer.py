"""TFX Trainer entry point (`run_fn`): train the Embedding+MLP on Transform's output and export it for serving."""
from __future__ import annotations

import dataclasses
import json
import logging
import time

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import model as model_lib
from components import serving
from components.keras import keras


class _Throughput(keras.callbacks.Callback):
    """Records examples/s per epoch; the first epoch includes tracing, so steady state is epochs 2+."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = batch_size
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.epochs.append({"epoch": epoch + 1, "seconds": round(seconds, 3),
                            "examples_per_second": round(self._steps * self.batch_size / seconds, 1),
                            **{k: round(float(v), 5) for k, v in (logs or {}).items()}})


# Set by the pipeline so that a code change invalidates the cache; not a hyperparameter.
CODE_VERSION_KEY = "code_version"


def train(fn_args: FnArgs) -> dict:
    """Trains and exports; returns the training summary written next to the model."""
    config = {k: v for k, v in (fn_args.custom_config or {}).items() if k != CODE_VERSION_KEY}
    hparams = model_lib.HParams.from_config(config)
    keras.utils.set_random_seed(hparams.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    datasets = {
        part: model_lib.make_dataset(fn_args.train_files, tft_output, hparams.batch_size, part,
                                     hparams.validation_buckets,
                                     shuffle_seed=hparams.seed if part == "train" else None)
        for part in ("train", "validation")}
    train_data = datasets["train"]
    epochs = hparams.max_epochs
    steps_per_epoch = None
    if fn_args.train_steps:  # a step budget (e.g. a run-time parameter) caps training
        train_data = train_data.repeat()
        steps_per_epoch = max(1, fn_args.train_steps // epochs)

    model = model_lib.build_model(model_lib.vocabulary_sizes(tft_output), hparams)
    throughput = _Throughput(hparams.batch_size)
    history = model.fit(
        train_data, validation_data=datasets["validation"], epochs=epochs, steps_per_epoch=steps_per_epoch,
        verbose=0, callbacks=[
            throughput,
            keras.callbacks.EarlyStopping(monitor="val_roc_auc", mode="max",
                                          patience=hparams.early_stopping_patience, restore_best_weights=True),
        ])
    model.save(fn_args.serving_model_dir, save_format="tf",
               signatures=serving.make_signatures(model, tft_output))
    steady = [e["examples_per_second"] for e in throughput.epochs[1:]]
    summary = {
        "hparams": dataclasses.asdict(hparams),
        "epochs_run": len(history.epoch),
        "epochs": throughput.epochs,
        "steady_examples_per_second": round(sum(steady) / len(steady), 1) if steady else None,
    }
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(f"{fn_args.model_run_dir}/training_summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    logging.info("Training summary: %s", json.dumps(summary))
    return summary


def run_fn(fn_args: FnArgs) -> None:
    train(fn_args)
