"""The pipeline's executors run directly on small real data, as TFX runs them: SampleGen on raw MovieLens files,
StatisticsGen (with the schema) and the DataGate on its examples, FeatureSnapshot, ServingBaseline, the
CatalogueEvaluator and the AtomicPusher."""
from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Optional

from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.atomic_pusher import executor as pusher_executor
from components.atomic_pusher import spec as pusher_spec
from components.catalogue_eval import executor as catalogue_executor
from components.catalogue_eval import spec as catalogue_spec
from components.data_gate import spec as data_gate_spec
from components.feature_snapshot import executor as snapshot_executor
from components.feature_snapshot import spec as snapshot_spec
from components.sample_gen import executor as sample_gen_executor
from components.sample_gen import spec as sample_gen_spec
from components.sample_gen.config import SampleGenConfig
from components.serving_baseline import executor as baseline_executor
from components.serving_baseline import spec as baseline_spec


def run_sample_gen(raw_dir: str, out_uri: str, config: SampleGenConfig = SampleGenConfig()
                   ) -> standard_artifacts.Examples:
    """The real SampleGen executor on raw MovieLens files; returns its Examples artifact."""
    examples = standard_artifacts.Examples()
    examples.uri = out_uri
    sample_gen_executor.Executor().Do({}, {sample_gen_spec.EXAMPLES_KEY: [examples]}, {
        sample_gen_spec.INPUT_BASE_KEY: raw_dir,
        sample_gen_spec.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            sample_gen_spec.raw_files_config("ratings.csv", "movies.csv")),
        **dataclasses.asdict(config)})
    return examples


def schema_artifact(out_uri: str, schema_path: Optional[str] = None) -> standard_artifacts.Schema:
    """The curated schema as ImportSchemaGen brings it into a run (schema/schema.pbtxt, or schema_path)."""
    from models import schema

    os.makedirs(out_uri, exist_ok=True)
    shutil.copy(schema_path or schema.SCHEMA_PATH, os.path.join(out_uri, "schema.pbtxt"))
    artifact = standard_artifacts.Schema()
    artifact.uri = out_uri
    return artifact


def run_statistics_gen(examples, schema, out_uri: str) -> standard_artifacts.ExampleStatistics:
    """TFX's StatisticsGen executor with the schema as input, as the pipeline runs it."""
    from tfx.components.statistics_gen import executor as statistics_executor

    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = out_uri
    statistics_executor.Executor().Do({"examples": [examples], "schema": [schema]},
                                      {"statistics": [statistics]}, {"exclude_splits": "[]"})
    return statistics


def run_data_gate(statistics, schema, out_uri: str, serving_dir: str = "", stop_on_drift: bool = False,
                  allow_anomalies: bool = False) -> standard_artifacts.ExampleAnomalies:
    """The real DataGate executor: validation against the schema, then drift against serving_dir's newest version."""
    from components.data_gate import executor as data_gate_executor

    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = out_uri
    data_gate_executor.Executor().Do(
        {data_gate_spec.STATISTICS_KEY: [statistics], data_gate_spec.SCHEMA_KEY: [schema]},
        {data_gate_spec.ANOMALIES_KEY: [anomalies]},
        {"exclude_splits": "[]", data_gate_spec.ALLOW_ANOMALIES_KEY: int(allow_anomalies),
         data_gate_spec.SERVING_DIR_KEY: serving_dir, data_gate_spec.SERVING_STATE_KEY: "",
         data_gate_spec.STOP_ON_DRIFT_KEY: int(stop_on_drift)})
    return anomalies


def run_snapshot(examples, out_uri: str, input_base: str = "", ratings_pattern: str = "ratings.csv",
                 movies_pattern: str = "movies.csv", shuffle_shards: int = 0, as_of: str = ""):
    output = snapshot_spec.SnapshotArtifact()
    output.uri = out_uri
    snapshot_executor.Executor().Do({snapshot_spec.EXAMPLES_KEY: [examples]}, {snapshot_spec.SNAPSHOT_KEY: [output]}, {
        snapshot_spec.INPUT_BASE_KEY: input_base, snapshot_spec.RATINGS_PATTERN_KEY: ratings_pattern,
        snapshot_spec.MOVIES_PATTERN_KEY: movies_pattern, snapshot_spec.SHUFFLE_SHARDS_KEY: shuffle_shards,
        snapshot_spec.AS_OF_KEY: as_of})
    return output


def run_serving_baseline(model, serving_dir: str, out_uri: str) -> standard_artifacts.Model:
    """The real ServingBaseline executor: the newest version of serving_dir, or the candidate model itself."""
    baseline = standard_artifacts.Model()
    baseline.uri = out_uri
    baseline_executor.Executor().Do({baseline_spec.CANDIDATE_MODEL_KEY: [model]},
                                    {baseline_spec.BASELINE_MODEL_KEY: [baseline]},
                                    {baseline_spec.SERVING_DIR_KEY: serving_dir})
    return baseline


def run_catalogue_evaluator(examples, model, feature_snapshot, baseline: Optional[standard_artifacts.Model],
                            out_uri: str, min_ratio: float = 0.9, max_regression: float = 0.1, min_liked: int = 1):
    """The real CatalogueEvaluator executor; returns its CatalogueEvaluation artifact."""
    evaluation = catalogue_spec.CatalogueEvaluation()
    evaluation.uri = out_uri
    inputs = {catalogue_spec.EXAMPLES_KEY: [examples], catalogue_spec.MODEL_KEY: [model],
              catalogue_spec.FEATURE_SNAPSHOT_KEY: [feature_snapshot]}
    if baseline is not None:
        inputs[catalogue_spec.BASELINE_MODEL_KEY] = [baseline]
    catalogue_executor.Executor().Do(inputs, {catalogue_spec.EVALUATION_KEY: [evaluation]}, {
        catalogue_spec.TOP_N_KEY: 10, catalogue_spec.MIN_LIKED_KEY: min_liked,
        catalogue_spec.MIN_RATIO_KEY: min_ratio, catalogue_spec.MAX_REGRESSION_KEY: max_regression})
    return evaluation


def run_pusher(model, blessed: int, feature_snapshot, serving_dir: str, out_uri: str,
               catalogue_evaluation=None, statistics=None) -> standard_artifacts.PushedModel:
    """The real AtomicPusher executor with the Evaluator's blessing `blessed` (1/0); statistics: StatisticsGen's
    output, whose training split is published with the version."""
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = out_uri
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir))
    inputs = {pusher_spec.MODEL_KEY: [model], pusher_spec.MODEL_BLESSING_KEY: [blessing],
              pusher_spec.FEATURE_SNAPSHOT_KEY: [feature_snapshot]}
    if catalogue_evaluation is not None:
        inputs[pusher_spec.CATALOGUE_EVALUATION_KEY] = [catalogue_evaluation]
    if statistics is not None:
        inputs[pusher_spec.STATISTICS_KEY] = [statistics]
    pusher_executor.Executor().Do(inputs, {pusher_spec.PUSHED_MODEL_KEY: [pushed]},
                                  {pusher_spec.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)})
    return pushed
