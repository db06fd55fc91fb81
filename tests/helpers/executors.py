"""The pipeline's executors run directly on small real data, as TFX runs them: SampleGen on raw MovieLens files,
FeatureSnapshot on its examples, ServingBaseline, the CatalogueEvaluator and the AtomicPusher."""
from __future__ import annotations

import dataclasses
from typing import Optional

from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.atomic_pusher import executor as pusher_executor
from components.atomic_pusher import spec as pusher_spec
from components.catalogue_eval import executor as catalogue_executor
from components.catalogue_eval import spec as catalogue_spec
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
               catalogue_evaluation=None) -> standard_artifacts.PushedModel:
    """The real AtomicPusher executor with the Evaluator's blessing `blessed` (1/0)."""
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
    pusher_executor.Executor().Do(inputs, {pusher_spec.PUSHED_MODEL_KEY: [pushed]},
                                  {pusher_spec.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)})
    return pushed
