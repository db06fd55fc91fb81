"""Evaluator executor: TFX's Evaluator contract (eval config in, TFMA's output and the blessing out), with the
models run once per record batch ahead of TFMA and plots on the overall slice only.

- The predictions: `predictions.PredictColumns` scores each record batch of the eval split with the candidate
  and the baseline, and TFMA reads them as columns (its model-agnostic route): TFMA's model route carried every
  raw and transformed feature of every example through each slice. The metrics, slices and gate are the eval
  config's, unchanged.
- The plots (calibration, confusion matrix at 1,000 thresholds) on the overall slice only, the one the report
  and the review draw; every other metric on every slice.
- Worker processes: on the direct runner without Beam flags, a large eval split is evaluated in DIRECT_WORKERS
  processes (TFMA merges each slice's partial results: the same figures); a small one in the executor's process.
- No baseline that is the candidate itself: with nothing serving yet, ServingBaseline hands the candidate over
  as the baseline (every orchestrator then sees the same inputs); evaluating it twice would compare a model with
  itself. Without a baseline TFMA rubber-stamps the change threshold, which is what a first model needs.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import apache_beam as beam
import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils, path_utils, proto_utils

from components.evaluator import predictions
from components.serving_baseline import spec as baseline_spec

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY
PLOT_METRICS = ("CalibrationPlot", "ConfusionMatrixPlot")
# Rows per record batch the models score: larger batches cost fewer signature calls, and TFMA unbatches them.
BATCH_SIZE = 2048
# On the direct runner with its defaults (no Beam flags), a large eval split is evaluated in this many worker
# processes: TFMA's per-example metric combining is Python, one core per process. 1: in the executor's process.
DIRECT_WORKERS = min(2, len(os.sched_getaffinity(0)))
# Large: at least this many bytes of (compressed) eval records. Each worker imports TensorFlow and TFMA and loads
# the models, which a small split does not pay back (bench/README.md#evaluator).
WORKERS_MIN_BYTES = 4 << 20
_TELEMETRY = ["Evaluator"]
# TFMA's output files, as its default writers name them (tfma.load_metrics and the dashboards read these).
OUTPUT_KEYS = (tfma.METRICS_KEY, tfma.PLOTS_KEY, tfma.ATTRIBUTIONS_KEY, tfma.VALIDATIONS_KEY)


def without_candidate_baseline(input_dict: Dict[str, List[types.Artifact]]) -> Dict[str, List[types.Artifact]]:
    """input_dict without its baseline model when that baseline stands in for a missing serving model."""
    baselines = input_dict.get(BASELINE_KEY) or []
    if baselines and all(b.get_custom_property(baseline_spec.IS_CANDIDATE_PROPERTY) for b in baselines):
        return {key: value for key, value in input_dict.items() if key != BASELINE_KEY}
    return input_dict


def split_plots(config: tfma.EvalConfig) -> Tuple[tfma.EvalConfig, tfma.EvalConfig]:
    """(the config without plot metrics, the config's plot metrics alone on the overall slice)."""
    metrics, plots = tfma.EvalConfig(), tfma.EvalConfig()
    metrics.CopyFrom(config)
    plots.CopyFrom(config)
    del plots.slicing_specs[:], plots.cross_slicing_specs[:]
    plots.slicing_specs.add()
    for kept, spec in ((metrics, lambda m: m.class_name not in PLOT_METRICS),
                       (plots, lambda m: m.class_name in PLOT_METRICS)):
        for metrics_spec in kept.metrics_specs:
            chosen = [m for m in metrics_spec.metrics if spec(m)]
            del metrics_spec.metrics[:]
            metrics_spec.metrics.extend(chosen)
    for metrics_spec in plots.metrics_specs:  # plots gate nothing; the thresholds stay with the metrics
        metrics_spec.ClearField("thresholds")
        metrics_spec.ClearField("per_slice_thresholds")
        metrics_spec.ClearField("cross_slice_thresholds")
    return metrics, plots


def _scored_models(config: tfma.EvalConfig, input_dict: Dict[str, List[types.Artifact]]
                   ) -> List[predictions.ScoredModel]:
    models = []
    for spec in config.model_specs:
        artifact = artifact_utils.get_single_instance(
            input_dict[BASELINE_KEY if spec.is_baseline else standard_component_specs.MODEL_KEY])
        path = path_utils.serving_model_path(artifact.uri, path_utils.is_old_model_artifact(artifact))
        models.append(predictions.ScoredModel(
            name=spec.name, path=path, signature_name=spec.signature_name or "serving_default",
            output_key=spec.prediction_key, preprocessing_function_names=tuple(spec.preprocessing_function_names)))
    return models


class Executor(base_beam_executor.BaseBeamExecutor):

    _direct_workers = 1

    def _make_beam_pipeline(self) -> beam.Pipeline:
        """TFX's pipeline when Beam flags were given; otherwise the direct runner in _direct_workers processes, set
        here rather than as flags (any Beam flag makes TFX build an sdist of itself for remote workers)."""
        if self._beam_pipeline_args or self._make_beam_pipeline_fn is not None or self._direct_workers <= 1:
            return super()._make_beam_pipeline()
        return beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(
            direct_num_workers=self._direct_workers, direct_running_mode="multi_processing"))

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        input_dict = without_candidate_baseline(input_dict)
        if not exec_properties.get(standard_component_specs.EVAL_CONFIG_KEY):
            raise ValueError("the Evaluator needs an eval_config")
        config = tfma.EvalConfig()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.EVAL_CONFIG_KEY], config)
        # As TFX's executor: the change threshold is rubber-stamped when there is no baseline.
        config = tfma.utils.update_eval_config_with_defaults(
            config, has_baseline=bool(input_dict.get(BASELINE_KEY)), rubber_stamp=True)
        tfma.utils.verify_eval_config(config)
        models = _scored_models(config, input_dict)
        agnostic = predictions.model_agnostic(config)
        metrics_config, plots_config = split_plots(agnostic)
        output_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.EVALUATION_KEY])
        splits = json_utils.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY, "null")) or ["eval"]
        examples = input_dict[standard_component_specs.EXAMPLES_KEY]
        tfxio_factory = tfxio_utils.get_tfxio_factory_from_artifact(
            examples=examples, telemetry_descriptors=_TELEMETRY, raw_record_column_name=tfma.ARROW_INPUT_COLUMN)
        patterns = [io_utils.all_files_pattern(uri) for split in splits
                    for uri in artifact_utils.get_split_uris(examples, split)]
        size = sum(tf.io.gfile.stat(path).length for pattern in patterns for path in tf.io.gfile.glob(pattern))
        self._direct_workers = DIRECT_WORKERS if size >= WORKERS_MIN_BYTES else 1
        logging.info("Evaluating %s on %s (%d bytes; %d direct runner process(es) without Beam flags).",
                     {m.name or "candidate": m.path for m in models}, patterns, size, self._direct_workers)

        with self._make_beam_pipeline() as pipeline:
            batches = ([pipeline | f"Read[{index}]" >> tfxio_factory(pattern).BeamSource(batch_size=BATCH_SIZE)
                        for index, pattern in enumerate(patterns)]
                       | "Flatten" >> beam.Flatten()
                       | "Predict" >> beam.ParDo(predictions.PredictColumns(
                           models, predictions.evaluated_columns(config), tfma.ARROW_INPUT_COLUMN)))
            extracts = batches | "ToExtracts" >> tfma.BatchedInputsToExtracts()
            for extractor in predictions.unsliced_extractors(agnostic):
                extracts = extracts | extractor.stage_name >> extractor.ptransform
            # One extraction, two slicings: every slice for the metrics, the overall slice for the plots.
            evaluations = {}
            for name, part in (("metrics", metrics_config), ("plots", plots_config)):
                slicing = tfma.extractors.SliceKeyExtractor(eval_config=part)
                evaluator = tfma.evaluators.MetricsPlotsAndValidationsEvaluator(eval_config=part)
                evaluations[name] = (extracts | f"SliceKeys[{name}]" >> slicing.ptransform
                                     | f"Evaluate[{name}]" >> evaluator.ptransform)
            writers = [tfma.writers.EvalConfigWriter(
                           output_uri, agnostic, data_location=",".join(patterns), data_file_format="tfrecords",
                           model_locations={m.name: m.path for m in models}),
                       tfma.writers.MetricsPlotsAndValidationsWriter(
                           output_paths={key: os.path.join(output_uri, key) for key in OUTPUT_KEYS},
                           eval_config=agnostic)]
            _ = ({tfma.METRICS_KEY: evaluations["metrics"][tfma.METRICS_KEY],
                  tfma.VALIDATIONS_KEY: evaluations["metrics"][tfma.VALIDATIONS_KEY],
                  tfma.PLOTS_KEY: evaluations["plots"][tfma.PLOTS_KEY]}
                 | "WriteResults" >> tfma.WriteResults(writers=writers))
        logging.info("Evaluation complete. Results written to %s.", output_uri)
        self._bless(input_dict, output_dict, exec_properties, output_uri)

    @staticmethod
    def _bless(input_dict, output_dict, exec_properties, output_uri: str) -> None:
        """The blessing artifact as TFX's executor writes it: the models compared, and BLESSED when TFMA's
        validation passed."""
        blessing = artifact_utils.get_single_instance(output_dict[standard_component_specs.BLESSING_KEY])
        model = input_dict[standard_component_specs.MODEL_KEY][0]
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
        if input_dict.get(BASELINE_KEY):
            baseline = input_dict[BASELINE_KEY][0]
            blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri)
            blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id)
        if "current_component_id" in exec_properties:
            blessing.set_string_custom_property("component_id", exec_properties["current_component_id"])
        if tfma.load_validation_result(output_uri).validation_ok:
            io_utils.write_string_file(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME), "")
            blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.BLESSED_VALUE)
        else:
            io_utils.write_string_file(os.path.join(blessing.uri, constants.NOT_BLESSED_FILE_NAME), "")
            blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.NOT_BLESSED_VALUE)
