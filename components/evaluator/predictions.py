"""The Evaluator's one pass of the models over the eval split: the columns TFMA evaluates, as Arrow record batches.

TFMA's model route loads each model and, per Beam batch, calls its transform signature (slicing may read a
transformed feature) and its serving signature, then carries every raw and transformed feature of every example
through slicing and each slice's metrics. Here each record batch is scored once per model (the candidate's
transform signature only for the slice columns the raw examples lack) and keeps only the columns the eval config
reads: labels, slice features, the ranking's user and one prediction column per model. TFMA then takes the
predictions from those columns (ModelSpec.prediction_key, its model-agnostic route), so it loads no model.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Dict, Iterator, List, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.extractors import materialized_predictions_extractor

PREDICTION_COLUMN_PREFIX = "__prediction__"  # no feature name starts so, so a prediction never shadows one


def prediction_column(model_name: str) -> str:
    return PREDICTION_COLUMN_PREFIX + (model_name or "candidate")


@dataclasses.dataclass(frozen=True)
class ScoredModel:
    """A model as its eval config's ModelSpec names it: where it is saved and which signature output scores."""
    name: str
    path: str
    signature_name: str
    output_key: str = ""  # "" for a signature with a single output
    preprocessing_function_names: Sequence[str] = ()


def model_agnostic(config: tfma.EvalConfig) -> tfma.EvalConfig:
    """The config with each model spec reading its predictions from its column instead of calling its model."""
    agnostic = tfma.EvalConfig()
    agnostic.CopyFrom(config)
    del agnostic.model_specs[:]
    for spec in config.model_specs:
        agnostic.model_specs.add(name=spec.name, label_key=spec.label_key, label_keys=spec.label_keys,
                                 example_weight_key=spec.example_weight_key,
                                 example_weight_keys=spec.example_weight_keys, is_baseline=spec.is_baseline,
                                 prediction_key=prediction_column(spec.name))
    return agnostic


def unsliced_extractors(config: tfma.EvalConfig) -> list:
    """TFMA's extractors for predictions held in feature columns, up to slicing (tfma.default_extractors picks
    these without a model, but given no model it also drops the baseline from the config)."""
    return [tfma.extractors.FeaturesExtractor(config), tfma.extractors.LabelsExtractor(config),
            tfma.extractors.ExampleWeightsExtractor(config),
            materialized_predictions_extractor.MaterializedPredictionsExtractor(config),
            tfma.extractors.UnbatchExtractor()]


def evaluated_columns(config: tfma.EvalConfig) -> List[str]:
    """The features the eval config reads: labels, example weights, slice keys, and a metric's `user_key`."""
    columns = []
    for spec in config.model_specs:
        columns += [spec.label_key, *spec.label_keys.values(), spec.example_weight_key,
                    *spec.example_weight_keys.values()]
    for slicing in list(config.slicing_specs) + [s for cross in config.cross_slicing_specs
                                                  for s in [cross.baseline_spec, *cross.slicing_specs]]:
        columns += list(slicing.feature_keys) + list(slicing.feature_values)
    for metrics_spec in config.metrics_specs:
        columns.append(metrics_spec.query_key)
        for metric in metrics_spec.metrics:
            if metric.config.strip().startswith("{"):
                options = json.loads(metric.config)
                columns += [v for k, v in options.items() if k.endswith("_key") and isinstance(v, str)]
    return list(dict.fromkeys(c for c in columns if c))


def _list_column(values: np.ndarray) -> pa.Array:
    """A [batch] or [batch, 1] array as one-value lists, the shape TFMA reads a feature or prediction in."""
    flat = np.ascontiguousarray(values).reshape(len(values), -1)
    return pa.ListArray.from_arrays(pa.array(np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32)),
                                    pa.array(flat.reshape(-1)))


class PredictColumns(beam.DoFn):
    """Record batches of raw examples (with their serialized records) -> the evaluated columns and predictions."""

    def __init__(self, models: Sequence[ScoredModel], columns: Sequence[str], raw_record_column: str):
        self._models = list(models)
        self._columns = list(columns)
        self._raw_record_column = raw_record_column

    def setup(self):
        import tensorflow as tf

        self._tf = tf
        self._signatures = {}
        for model in self._models:
            loaded = tf.saved_model.load(model.path)
            self._signatures[model.name] = (
                loaded, loaded.signatures[model.signature_name],
                [loaded.signatures[name] for name in model.preprocessing_function_names])

    def process(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        serialized = self._tf.constant(np.asarray(batch.column(self._raw_record_column).flatten(), dtype=object))
        names, arrays = [], []
        missing = []
        for name in self._columns:
            index = batch.schema.get_field_index(name)
            if index >= 0:
                names.append(name)
                arrays.append(batch.column(index))
            else:
                missing.append(name)
        for model in self._models:
            _, serve, preprocessing = self._signatures[model.name]
            for transform in preprocessing:  # slice columns the raw examples lack, from the first model that has them
                if not missing:
                    break
                transformed = transform(serialized)
                for name in [m for m in missing if m in transformed]:
                    names.append(name)
                    arrays.append(_list_column(transformed[name].numpy()))
                    missing.remove(name)
            outputs = serve(serialized)
            output = outputs[model.output_key] if model.output_key else _single(outputs, model.name)
            names.append(prediction_column(model.name))
            arrays.append(_list_column(output.numpy()))
        yield pa.RecordBatch.from_arrays(arrays, names)


def _single(outputs: Dict[str, object], model_name: str):
    if len(outputs) != 1:
        raise ValueError(f"model {model_name!r}: its signature returns {sorted(outputs)}; name the prediction "
                         f"key in its ModelSpec")
    return next(iter(outputs.values()))
