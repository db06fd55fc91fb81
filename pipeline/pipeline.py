"""`create_pipeline`: the one definition of the sparrow-tfx pipeline, for every orchestrator.

Pure: every input is an argument and it returns a `Pipeline`; runners (local Beam, Kubeflow) only
choose the arguments. Model code reaches the executors as dotted paths into the installed package, so the
same code runs locally and in the pipeline image without a wheel uploaded at compile time.
"""
from __future__ import annotations

import json
from typing import Optional

from ml_metadata.proto import metadata_store_pb2

# Not `tfx.v1`: it imports every extension (Vertex AI's client alone took a third of a cached re-run).
from tfx.components import CsvExampleGen, StatisticsGen, Trainer, Transform
from tfx.components.evaluator import constants as evaluator_constants
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.placeholder import placeholder as ph
from tfx.orchestration import data_types
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, trainer_pb2, transform_pb2
from tfx.utils import proto_utils

from components.atomic_pusher.component import AtomicPusher
from components.catalogue_eval import spec as catalogue_spec
from components.catalogue_eval.component import CatalogueEvaluator
from components.data_gate.component import DataGate
from components.evaluator import eval_config
from components.evaluator.component import Evaluator
from components.feature_snapshot.component import FeatureSnapshot
from components.sample_gen.component import SampleGen
from components.sample_gen.config import SampleGenConfig
from components.serving_baseline.component import ServingBaseline
from models import model as model_lib
from models import preprocessing, warm_start
from models import trainer as trainer_lib
from pipeline import configs

PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"

# Run-time parameters of a compiled pipeline (Kubeflow). Protobuf rejects a RuntimeParameter inside a message and
# TFX takes a proto at run time only whole, as its JSON string: the training steps travel in the TrainArgs JSON and
# the AUC gate in the EvalConfig JSON. The serving directory is not one: Pusher's PushDestination and
# ServingBaseline must name the same directory, and two parameters that must agree would be a trap.
DATA_ROOT_PARAMETER = "data_root"
TRAIN_ARGS_PARAMETER = "train_args"
EVAL_CONFIG_PARAMETER = "eval_config"
AS_OF_PARAMETER = "as_of"  # SampleGen's option of that name, which FeatureSnapshot shares

# Nodes off the examples -> model path (the Pusher and the CatalogueEvaluator read the snapshot, after the Trainer):
# a local run may run them beside it.
SIDE_BRANCH_NODES = (FeatureSnapshot.__name__,)


def sample_splits() -> example_gen_pb2.Input:
    """Sample CSV directories: `train/` and `eval/` under the data root."""
    return example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="train", pattern="train/*"),
        example_gen_pb2.Input.Split(name="eval", pattern="eval/*"),
    ])


def parameter_json(message) -> str:
    """A proto as the value of a run-time parameter: one line of JSON, which TFX's executors parse back."""
    return json.dumps(proto_utils.proto_to_dict(message), sort_keys=True)


def _run_time(name: str, value, as_parameter: bool):
    """value itself, or a run-time parameter named name with value (a proto as JSON) as its default."""
    if not as_parameter:
        return value
    default = value if isinstance(value, str) else parameter_json(value)
    return data_types.RuntimeParameter(name=name, ptype=str, default=default or None)


def trainer_hparams(hparams: Optional[dict], sample_gen: Optional[SampleGenConfig]) -> dict:
    """The Trainer's hyperparameters: hparams, and an early-stopping validation drawn as eval is, unless hparams
    choose it: at random from sample CSVs (the SparrowRecSys split is random), by time from SampleGen's splits;
    with SampleGen, how its negatives were drawn, which the served ranking undoes."""
    if sample_gen is None:
        return {model_lib.VALIDATION_SPLIT_HPARAM: model_lib.RANDOM_VALIDATION, **(hparams or {})}
    return {model_lib.VALIDATION_SPLIT_HPARAM: model_lib.TIME_VALIDATION,
            model_lib.POPULARITY_CAP_HPARAM: sample_gen.negatives_popularity_cap, **(hparams or {})}


def warm_start_config(enabled: bool, serving_dir: str, serving_state: str, runtime_parameters: bool) -> dict:
    """The Trainer's warm-start source: the directory of the version serving_state names ("" when nothing serves),
    in its custom_config, so a push changes the Trainer's cache key as it does ServingBaseline's; {} when off.
    A compiled spec cannot know at compile time what will serve when it runs, and the model code reads no serving
    directory (it imports only compat/), so it cannot warm-start."""
    if not enabled:
        return {}
    if runtime_parameters:
        raise ValueError("warm start needs what serves when the pipeline is built (serving_state), which a compiled "
                         "spec does not have: compile without warm_start")
    # serving_state is "<version>:<digest>" (recommender.serving_dir.serving_state); a version's directory is never
    # rewritten, so its name pins what the Trainer starts from.
    version = serving_state.partition(":")[0]
    return {warm_start.WARM_START_KEY: f"{serving_dir.rstrip('/')}/{version}" if version else ""}


def create_pipeline(
    settings: configs.Settings,
    pipeline_root: str,
    schema_path: str,
    serving_dir: str,
    code_version: str = "",
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
    runtime_parameters: bool = False,
    serving_state: str = "",
    pipeline_name: str = configs.PIPELINE_NAME,
) -> Pipeline:
    """The pipeline: samples -> validated -> transformed -> trained -> evaluated -> gated -> pushed.

    settings: what it trains on and how it gates (configs.Settings). With settings.sample_gen, data_root holds
    raw MovieLens files: SampleGen makes the samples with those options (in place of CsvExampleGen), and the
    feature snapshot served with the model takes every rating and the titles from the same files (from sample
    CSVs it takes the ratings the samples carry, no titles).
    code_version: a digest of the model code; it is part of Transform's and Trainer's configuration, so
    changing the code invalidates their cached results even though they reference it by dotted path.
    runtime_parameters: compile the data root, the training args, the evaluation config and SampleGen's options
    as run-time parameters (names above; SampleGen's under their SampleGenConfig field names) whose defaults are
    the settings' values; an empty data_root has no default.
    serving_state: what serves now (recommender.serving_dir.serving_state), part of ServingBaseline's and the
    DataGate's (its drift check) cache keys; with settings.warm_start, the Trainer starts from that version.
    """
    sample_gen = settings.sample_gen
    input_base = _run_time(DATA_ROOT_PARAMETER, settings.data_root, runtime_parameters)
    if sample_gen is None:
        example_gen = CsvExampleGen(input_base=input_base, input_config=sample_splits())
    else:
        example_gen = SampleGen(input_base=input_base, config=sample_gen, options_as_parameters=runtime_parameters)
    schema_gen = ImportSchemaGen(schema_file=schema_path)
    # With the schema, TFDV counts the values of the categorical ids (int_domain.is_categorical) for drift.
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"])
    example_validator = DataGate(statistics=statistics_gen.outputs["statistics"],
                                 schema=schema_gen.outputs["schema"], allow_anomalies=settings.allow_anomalies,
                                 serving_dir=serving_dir, serving_state=serving_state,
                                 stop_on_drift=settings.stop_on_drift)
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        force_tf_compat_v1=preprocessing.FORCE_TF_COMPAT_V1,
        splits_config=transform_pb2.SplitsConfig(analyze=["train"], transform=["train", "eval"]),
        disable_statistics=True,  # nothing reads statistics of transformed data, and they cost extra passes
        disable_analyzer_cache=True,  # the cache pays off for analysis over spans; a whole-data run only writes it
        custom_config={trainer_lib.CODE_VERSION_KEY: code_version})
    transform.add_upstream_node(example_validator)  # nothing is trained on data that failed validation
    # SampleGen's as_of, as SampleGen declares it (its default "" is "no cut", not "required": _run_time would make
    # an empty default required, and the one parameter the two tasks share would lose its default)
    as_of = "" if sample_gen is None else data_types.RuntimeParameter(
        name=AS_OF_PARAMETER, ptype=str, default=sample_gen.as_of) if runtime_parameters else sample_gen.as_of
    feature_snapshot = FeatureSnapshot(
        examples=example_gen.outputs["examples"], input_base=input_base if sample_gen is not None else "",
        as_of=as_of)
    feature_snapshot.add_upstream_node(example_validator)
    trainer = Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=_run_time(TRAIN_ARGS_PARAMETER,
                             trainer_pb2.TrainArgs(splits=["train"], num_steps=settings.train_steps),
                             runtime_parameters),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]),
        custom_config={**trainer_hparams(settings.hparams, sample_gen), trainer_lib.CODE_VERSION_KEY: code_version,
                       **warm_start_config(settings.warm_start, serving_dir, serving_state, runtime_parameters)})
    baseline = ServingBaseline(model=trainer.outputs["model"], serving_dir=serving_dir, serving_state=serving_state)
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["baseline_model"],
        eval_config=_run_time(EVAL_CONFIG_PARAMETER,
                              eval_config.eval_config(settings.min_auc, settings.max_auc_regression),
                              runtime_parameters))
    catalogue_evaluator = CatalogueEvaluator(examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
                                             feature_snapshot=feature_snapshot.outputs["feature_snapshot"],
                                             baseline_model=baseline.outputs["baseline_model"],
                                             min_ratio_to_popularity=settings.min_catalogue_ratio,
                                             max_regression_to_serving=settings.max_catalogue_regression,
                                             max_eval_users=settings.catalogue_eval_users)
    # Only a model blessed by both gates reaches the Pusher; on Kubeflow this is the Pusher task's trigger condition.
    blessed = ph.logical_and(
        evaluator.outputs["blessing"].future()[0].custom_property(
            evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY) == evaluator_constants.BLESSED_VALUE,
        catalogue_evaluator.outputs[catalogue_spec.EVALUATION_KEY].future()[0].custom_property(
            catalogue_spec.BLESSED_PROPERTY) == 1)
    with Cond(blessed):
        # The node keeps TFX's name "Pusher", which run summaries and lineage look up.
        pusher = AtomicPusher(
            model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
            feature_snapshot=feature_snapshot.outputs["feature_snapshot"], serving_dir=serving_dir,
            catalogue_evaluation=catalogue_evaluator.outputs[catalogue_spec.EVALUATION_KEY],
            statistics=statistics_gen.outputs["statistics"]).with_id("Pusher")
    return Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, transform, feature_snapshot,
                    trainer, baseline, evaluator, catalogue_evaluator, pusher],
        enable_cache=settings.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(settings.beam_pipeline_args or ()))
