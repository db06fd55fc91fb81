"""pipeline/runners/kfp_entrypoint.py: TFX's container entry point made to accept what the open-source KFP
launcher sends (upstream inputs with an empty type, the launcher's own `executor-logs` output typed system.Artifact)."""
import json
import os

import pytest

from pipeline.runners import kfp_entrypoint

MODEL_TYPE = {"instanceSchema": "title: tfx.Model\ntype: object\n"}
SERVING_BASELINE = "components.serving_baseline.executor.Executor"


def launcher_input(tmp_path, model_type: dict) -> dict:
    """A ServingBaseline ExecutorInput as the open-source launcher builds it (JSON form)."""
    return {
        "inputs": {
            "parameterValues": {"serving_dir": str(tmp_path / "serving")},
            "artifacts": {"model": {"artifacts": [
                {"name": "42", "uri": str(tmp_path / "model"), "type": model_type, "metadata": {}}]}}},
        "outputs": {
            "artifacts": {
                "baseline_model": {"artifacts": [{"uri": str(tmp_path / "baseline"), "type": MODEL_TYPE}]},
                "executor-logs": {"artifacts": [{"uri": str(tmp_path / "logs"),
                                                 "type": {"schemaTitle": "system.Artifact"}}]}},
            "outputFile": str(tmp_path / "task" / "output_metadata.json")}}


INPUTS_SPEC = {"artifacts": {"model": {"artifactType": MODEL_TYPE}},
               "parameters": {"serving_dir": {"parameterType": "STRING"}}}


@pytest.mark.parametrize("model_type", [{"instanceSchema": ""}, {}, {"schemaTitle": "system.Model"}])
def test_untyped_or_generic_inputs_take_the_declared_type(tmp_path, model_type):
    adapted, changes = kfp_entrypoint.adapt_executor_input(launcher_input(tmp_path, model_type), INPUTS_SPEC)
    assert adapted["inputs"]["artifacts"]["model"]["artifacts"][0]["type"] == MODEL_TYPE
    assert "input model: type tfx.Model from the inputs spec" in changes


def test_typed_inputs_and_component_outputs_are_kept(tmp_path):
    original = launcher_input(tmp_path, {"instanceSchema": "title: tfx.Model\n"})
    adapted, changes = kfp_entrypoint.adapt_executor_input(original, INPUTS_SPEC)
    assert adapted["inputs"] == original["inputs"]
    assert list(adapted["outputs"]["artifacts"]) == ["baseline_model"]
    assert changes == ["output executor-logs: the launcher's own, not passed to the executor"]
    assert "executor-logs" in original["outputs"]["artifacts"]  # the caller's input is not changed


def test_an_untyped_input_the_spec_does_not_declare_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="input artifact 'model' has no type"):
        kfp_entrypoint.adapt_executor_input(launcher_input(tmp_path, {"instanceSchema": ""}), {"artifacts": {}})


def entrypoint_args(executor_input: dict):
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    return kubeflow_v2_run_executor._parse_flags([  # pylint: disable=protected-access
        "--executor_class_path", SERVING_BASELINE, "--json_serialized_invocation_args", json.dumps(executor_input),
        "--json_serialized_inputs_spec_args", json.dumps(INPUTS_SPEC)])


@pytest.mark.slow
def test_a_real_executor_runs_through_the_entrypoint_where_tfxs_own_fails(tmp_path):
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    candidate = tmp_path / "model" / "Format-Serving"
    candidate.mkdir(parents=True)
    (candidate / "saved_model.pb").write_bytes(b"candidate")
    untyped = launcher_input(tmp_path, {"instanceSchema": ""})
    with pytest.raises(AttributeError):  # yaml.safe_load("").get(...)
        kubeflow_v2_run_executor.main(entrypoint_args(untyped))
    typed = launcher_input(tmp_path, MODEL_TYPE)
    with pytest.raises(ImportError, match="system.Artifact"):
        kubeflow_v2_run_executor.main(entrypoint_args(typed))

    kfp_entrypoint._run(entrypoint_args(untyped))  # pylint: disable=protected-access

    assert (tmp_path / "baseline" / "Format-Serving" / "saved_model.pb").read_bytes() == b"candidate"
    with open(tmp_path / "task" / "output_metadata.json") as f:
        executor_output = json.load(f)
    (baseline,) = executor_output["artifacts"]["baseline_model"]["artifacts"]
    assert baseline["metadata"]["is_candidate"] == 1.0  # nothing served yet: the candidate is its own baseline
    assert list(executor_output["artifacts"]) == ["baseline_model"]
    assert not os.path.exists(tmp_path / "logs")


def test_custom_artifact_types_resolve_to_their_classes_in_tfxs_entry_point():
    """Fails when an upgrade changes the map from schema title to class path that TFX's entry point reads."""
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
    from tfx.utils import import_utils

    from components.catalogue_eval import spec

    kfp_entrypoint.register_custom_artifact_types()
    schema = pipeline_spec_pb2.ArtifactTypeSchema(instance_schema=f"title: {spec.CatalogueEvaluation.TYPE_NAME}\n")
    class_path = kubeflow_v2_entrypoint_utils._retrieve_class_path(schema)  # pylint: disable=protected-access
    assert import_utils.import_class_by_path(class_path) is spec.CatalogueEvaluation


def test_output_directories_are_made_on_a_mounted_root_only(tmp_path):
    executor_input = launcher_input(tmp_path, MODEL_TYPE)
    executor_input["outputs"]["artifacts"]["pushed_model"] = {"artifacts": [
        {"uri": "s3://bucket/root/Pusher/pushed_model", "type": MODEL_TYPE}]}
    kfp_entrypoint.make_local_output_dirs(executor_input)
    assert os.path.isdir(tmp_path / "baseline") and os.path.isdir(tmp_path / "logs")
    assert not os.path.exists("s3:") and sorted(os.listdir(tmp_path)) == ["baseline", "logs"]
