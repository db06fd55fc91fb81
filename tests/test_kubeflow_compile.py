"""`sparrow-tfx compile`: a bare KFP PipelineSpec YAML (schema 2.1) that open-source Kubeflow Pipelines accepts:
only container executors, each running our entry point in the pipeline image, run-time parameters with their
defaults, the DAG of create_pipeline, no legacy constantValue, a blessing condition KFP's driver can resolve; the
input kinds of `run` (raw MovieLens through SampleGen by default, sample CSVs through CsvExampleGen)."""
import dataclasses
import json
import re

import pytest
import yaml

from components.sample_gen.config import SampleGenConfig
from pipeline import configs
from pipeline.runners import image as pipeline_image

pytestmark = pytest.mark.slow  # compiling imports TFX

SAMPLE_GEN_OPTIONS = [field.name for field in dataclasses.fields(SampleGenConfig)]
# Both gates: TFMA's blessing and the catalogue's (the Pusher's catalogue_evaluation input, which carries the
# first-run serving policy; without that input TFX would add the predicate's channel under a name of its own).
BLESSED_CONDITION = ("((inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed'] == 1.0) && "
                     "(inputs.artifacts['catalogue_evaluation'].artifacts[0].metadata['blessed'] == 1.0))")


@pytest.fixture(scope="module")
def spec(compiled_pipeline) -> dict:
    with open(compiled_pipeline.path) as f:
        return yaml.safe_load(f)


def containers(spec: dict) -> dict:
    return {label: executor["container"] for label, executor in spec["deploymentSpec"]["executors"].items()}


def test_compile_reports_what_it_wrote(compiled_pipeline):
    tasks, containers_ = re.search(r"(\d+) tasks, executors \{'container': (\d+)\}, image (\S+)",
                                   compiled_pipeline.stdout).groups()[:2]
    assert tasks == containers_ and f"image {pipeline_image.default_image()}\n" in compiled_pipeline.stdout
    assert ("input: raw MovieLens (SampleGen); tasks: ImportSchemaGen, SampleGen, StatisticsGen, ExampleValidator, "
            "FeatureSnapshot, Transform, Trainer, ServingBaseline, CatalogueEvaluator, Evaluator, Pusher\n"
            in compiled_pipeline.stdout)
    assert "run-time parameters: " + ", ".join(sorted(["data_root (required)", "eval_config", "train_args",
                                                       *SAMPLE_GEN_OPTIONS])) + "\n" in compiled_pipeline.stdout


def test_a_bare_pipeline_spec_of_schema_2_1(spec, compiled_pipeline):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # every field known to the KFP protos
    assert set(spec) == {"components", "deploymentSpec", "pipelineInfo", "root", "schemaVersion", "sdkVersion",
                         "defaultPipelineRoot"}  # not a Vertex PipelineJob (no pipelineSpec/runtimeConfig)
    assert (spec["schemaVersion"], spec["sdkVersion"]) == ("2.1.0", "tfx-1.16.0")
    assert spec["pipelineInfo"]["name"] == configs.PIPELINE_NAME
    assert spec["defaultPipelineRoot"] == compiled_pipeline.pipeline_root


def test_only_containers_running_our_entrypoint_in_the_pipeline_image(spec):
    assert {kind for executor in spec["deploymentSpec"]["executors"].values() for kind in executor} == {"container"}
    for label, container in containers(spec).items():
        assert container["image"] == pipeline_image.default_image(), label
        assert container["command"] == list(pipeline_image.ENTRYPOINT_COMMAND), label
        args = container["args"]
        assert args[args.index("--json_serialized_invocation_args") + 1] == "{{$}}", label
        component = spec["components"][label.removesuffix("_executor")]
        inputs_spec = json.loads(args[args.index("--json_serialized_inputs_spec_args") + 1])
        assert inputs_spec == component.get("inputDefinitions", {}), label  # the entry point's source of types


def test_runtime_parameters_keep_their_defaults(spec):
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tfx.proto import trainer_pb2

    from components.evaluator import eval_config

    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["data_root"] == {"parameterType": "STRING"}  # no default: every run names its data
    train_args = json_format.Parse(parameters["train_args"]["defaultValue"], trainer_pb2.TrainArgs())
    assert train_args == trainer_pb2.TrainArgs(splits=["train"], num_steps=0)
    gate = eval_config.Gate.from_eval_config(
        json_format.Parse(parameters["eval_config"]["defaultValue"], tfma.EvalConfig()))
    defaults = configs.Settings()
    assert gate == eval_config.Gate(defaults.min_auc, defaults.max_auc_regression)
    assert parameters["train_args"]["isOptional"] and parameters["eval_config"]["isOptional"]
    tasks = spec["root"]["dag"]["tasks"]
    for task, key, parameter in [("SampleGen", "input_base", "data_root"),
                                 ("FeatureSnapshot", "input_base", "data_root"),
                                 ("Trainer", "train_args", "train_args"), ("Evaluator", "eval_config", "eval_config"),
                                 *[("SampleGen", option, option) for option in SAMPLE_GEN_OPTIONS]]:
        assert tasks[task]["inputs"]["parameters"][key] == {"componentInputParameter": parameter}
    assert {option: parameters[option]["defaultValue"] for option in SAMPLE_GEN_OPTIONS} == dataclasses.asdict(
        SampleGenConfig())


def test_dag_edges_are_create_pipelines(spec, compiled_pipeline):
    from pipeline.runners import kubeflow

    pipeline = kubeflow.build_pipeline(kubeflow.CompileSettings(
        image="unused", pipeline_root=compiled_pipeline.pipeline_root, serving_dir=compiled_pipeline.serving_dir))
    upstream = {node.id: sorted(n.id for n in node.upstream_nodes) for node in pipeline.components}
    tasks = spec["root"]["dag"]["tasks"]
    assert {name: task.get("dependentTasks", []) for name, task in tasks.items()} == upstream
    assert {"Trainer", "Evaluator"} <= set(upstream["Pusher"]) and "ServingBaseline" in upstream["Evaluator"]
    assert "ServingBaseline" in upstream["CatalogueEvaluator"]  # it gates against the serving version too
    for name, task in tasks.items():
        for artifact in task.get("inputs", {}).get("artifacts", {}).values():
            assert artifact["taskOutputArtifact"]["producerTask"] in upstream[name]


def caching(spec: dict) -> dict:
    return {name: task.get("cachingOptions", {}).get("enableCache", False)
            for name, task in spec["root"]["dag"]["tasks"].items()}


def test_only_the_serving_baseline_the_data_gate_and_sample_gen_skip_kfps_cache(spec):
    enabled = caching(spec)
    assert enabled.pop("ServingBaseline") is False  # what serves now is not in KFP's cache key
    assert enabled.pop("ExampleValidator") is False  # nor the serving version's statistics its drift check reads
    assert enabled.pop("SampleGen") is False  # nor what the files under data_root hold now
    assert set(enabled.values()) == {True}


def test_no_legacy_constant_values(spec, compiled_pipeline):
    with open(compiled_pipeline.path) as f:
        assert "constantValue" not in f.read()
    for task in spec["root"]["dag"]["tasks"].values():
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            assert set(parameter) <= {"runtimeValue", "componentInputParameter"}
            assert set(parameter.get("runtimeValue", {"constant": None})) == {"constant"}


def test_only_the_pusher_waits_for_the_blessing_and_no_importer_has_a_condition(spec):
    tasks = spec["root"]["dag"]["tasks"]
    conditions = {name: task["triggerPolicy"]["condition"] for name, task in tasks.items() if "triggerPolicy" in task}
    assert conditions == {"Pusher": BLESSED_CONDITION}
    assert tasks["Pusher"]["inputs"]["artifacts"]["model_blessing"]["taskOutputArtifact"] == {
        "producerTask": "Evaluator", "outputArtifactKey": "blessing"}
    assert tasks["Pusher"]["inputs"]["artifacts"]["catalogue_evaluation"]["taskOutputArtifact"] == {
        "producerTask": "CatalogueEvaluator", "outputArtifactKey": "catalogue_evaluation"}
    executors = spec["deploymentSpec"]["executors"]
    importers = [name for name, task in tasks.items()
                 if "importer" in executors[spec["components"][task["componentRef"]["name"]]["executorLabel"]]]
    assert not [name for name in importers if name in conditions]


def test_the_drift_check_reads_the_serving_dir_and_the_pusher_publishes_the_statistics(spec, compiled_pipeline):
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["Pusher"]["inputs"]["artifacts"]["statistics"]["taskOutputArtifact"] == {
        "producerTask": "StatisticsGen", "outputArtifactKey": "statistics"}
    assert tasks["StatisticsGen"]["inputs"]["artifacts"]["schema"]["taskOutputArtifact"]["producerTask"] == \
        "ImportSchemaGen"  # the ids' values are counted (categorical in the schema)
    gate = tasks["ExampleValidator"]["inputs"]["parameters"]
    assert gate["serving_dir"]["runtimeValue"]["constant"] == compiled_pipeline.serving_dir
    assert gate["stop_on_drift"]["runtimeValue"]["constant"] == 0.0


def test_kfp_loads_the_package(compiled_pipeline):
    from kfp import components

    component = components.load_component_from_file(compiled_pipeline.path)
    assert component.name == configs.PIPELINE_NAME
    assert set(component.component_spec.inputs) == {"data_root", "train_args", "eval_config", *SAMPLE_GEN_OPTIONS}


def compile_in_process(tmp_path, *flags: str) -> dict:
    from pipeline.cli import main

    output = str(tmp_path / "pipeline.yaml")
    assert main.main(["compile", "--output", output, *flags]) == 0
    with open(output) as f:
        return yaml.safe_load(f)


def test_a_beam_preset_lands_in_every_container(tmp_path):
    image = "registry.example/sparrow-tfx:test"
    spec = compile_in_process(
        tmp_path, "--image", image, "--pipeline-root", "gs://bucket/root", "--beam-runner", "dataflow",
        "--dataflow-project", "proj", "--dataflow-region", "europe-west1", "--dataflow-temp-location", "gs://b/tmp")
    dataflow = ["--runner=DataflowRunner", "--project=proj", "--region=europe-west1", "--temp_location=gs://b/tmp",
                f"--sdk_container_image={image}"]
    for label, container in containers(spec).items():
        assert container["image"] == image
        assert container["args"][-len(dataflow):] == dataflow, label
    assert spec["root"]["dag"]["tasks"]["ServingBaseline"]["inputs"]["parameters"]["serving_dir"] == {
        "runtimeValue": {"constant": "gs://bucket/root/serving"}}  # the default serving dir: under the root


@pytest.mark.parametrize("flags,message", [
    (["--pipeline-root", "minio://mlpipeline/v2"], "--pipeline-root must be a gs://, s3://, hdfs:// URI"),
    ([], "--serving-dir is required without --pipeline-root"),
])
def test_roots_tfx_cannot_use_are_refused(tmp_path, flags, message):
    with pytest.raises(SystemExit, match=message):
        compile_in_process(tmp_path, *flags)


@pytest.mark.parametrize("flags,data_root", [(["--samples"], None), (["--data", "gs://bucket/samples"],
                                                                      "gs://bucket/samples")])
def test_sample_csvs_compile_to_csv_example_gen(tmp_path, flags, data_root):
    spec = compile_in_process(tmp_path, *flags, "--pipeline-root", "gs://bucket/root")
    tasks = spec["root"]["dag"]["tasks"]
    assert "CsvExampleGen" in tasks and "SampleGen" not in tasks
    assert tasks["CsvExampleGen"]["inputs"]["parameters"]["input_base"] == {"componentInputParameter": "data_root"}
    assert tasks["FeatureSnapshot"]["inputs"]["parameters"]["input_base"] == {
        "runtimeValue": {"constant": ""}}  # no raw files: the ratings the samples carry
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {"data_root", "train_args", "eval_config"}
    assert parameters["data_root"].get("defaultValue") == data_root
    assert caching(spec)["CsvExampleGen"] is False  # ExampleGen's file fingerprint is the driver's, too


def test_sample_gen_options_are_the_defaults_of_its_parameters(tmp_path):
    spec = compile_in_process(tmp_path, "--movielens", "gs://bucket/ml-latest-small", "--features", "leaky",
                              "--sample-option", "split_mode=user_last", "--sample-option", "eval_ratings_per_user=2",
                              "--pipeline-root", "gs://bucket/root")
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    defaults = {name: parameters[name]["defaultValue"] for name in ["data_root", *SAMPLE_GEN_OPTIONS]}
    assert defaults == {"data_root": "gs://bucket/ml-latest-small", **dataclasses.asdict(SampleGenConfig(
        features_mode="leaky", split_mode="user_last", eval_ratings_per_user=2))}


@pytest.mark.parametrize("flags,message", [
    (["--samples", "--sample-option", "split_mode=user_last"], "apply to raw MovieLens input, not to --samples"),
    (["--data", "gs://b/s", "--features", "leaky"], "apply to raw MovieLens input, not to --data"),
    (["--sample-option", "colour=blue"], "--sample-option colour: no such SampleGen option"),
    (["--sample-option", "eval_fraction=2"], r"eval_fraction must be in \(0, 1\)"),
])
def test_sample_options_are_checked_as_run_checks_them(tmp_path, flags, message):
    with pytest.raises(SystemExit, match=message):
        compile_in_process(tmp_path, *flags, "--pipeline-root", "gs://bucket/root")
