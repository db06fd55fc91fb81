"""The compiled pipeline runs under open-source Kubeflow Pipelines' rules, on this machine, without a cluster.

Each task of the compiled spec runs in DAG order through the spec's own container command and arguments (a
subprocess with this venv's python in place of the image's), with an ExecutorInput built as the open-source
driver and launcher build it:
- output URIs under the pipeline root (local paths here), one per output of the component, plus the launcher's
  own `executor-logs` output typed `system.Artifact`;
- upstream artifacts as ML Metadata gives them back: MLMD ids as names, metadata through MLMD's value types,
  and an EMPTY `instanceSchema` (the backend does not keep the type's schema);
- parameters from the task's constants and the run's parameters (defaults from the spec); paths inside the image
  (`/opt/sparrow-tfx/...`, the schema) are read from this checkout, as a bind mount of it there would;
- the trigger condition evaluated on the task's resolved inputs: a task whose condition is false is skipped;
- every task started once the tasks it depends on are done, so independent tasks run at the same time;
- KFP's cache: a task whose caching is on is served from an earlier run when its cache key matches (its component,
  parameter values and input artifacts' names, as `cacheutils.GenerateCacheKey`); an input artifact made anew
  changes the key.
The default spec (raw MovieLens files through SampleGen), two runs: the first (nothing served: the candidate is its
own baseline, blessed, pushed), then one on the same files with an AUC threshold no model reaches (the newly served
model is the baseline, not blessed: Pusher skipped). In the second run KFP's cache serves the schema import only:
SampleGen's caching is off, so it and every task after it would run again on the same inputs; to save a whole run
the tasks before the ServingBaseline take the first run's outputs as stand-ins, and the report says so. The
sample-CSV spec: its CsvExampleGen task. What is not covered: Argo, the API
server, the real driver/launcher binaries, object storage.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

import pytest
import yaml

from pipeline.cli.commands import submit
from pipeline.runners import image as pipeline_image
from tests.conftest import REPO_ROOT, run_cli

DATA_SIZE = 3000  # ratings
LAUNCHER_LOGS_OUTPUT = "executor-logs"
_CONDITION_TERM = re.compile(
    r"inputs\.artifacts\['([^']+)'\]\.artifacts\[(\d+)\]\.metadata\['([^']+)'\]\s*(==|!=)\s*(.+)")


def through_mlmd(value):
    """A metadata value as the backend gives it back after storing it in ML Metadata (converter.go)."""
    if isinstance(value, bool):
        return float(value)  # stored as an int, returned as a number
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return {"list": value}
    if isinstance(value, dict):
        return {"struct": value}
    raise TypeError(f"ML Metadata cannot store the metadata value {value!r}")  # e.g. null: the backend fails


def in_checkout(value):
    """A path inside the pipeline image, where this checkout has the same file (the image copies it there)."""
    if isinstance(value, str) and value.startswith(pipeline_image.PROJECT_DIR + "/"):
        return os.path.join(REPO_ROOT, os.path.relpath(value, pipeline_image.PROJECT_DIR))
    return value


@dataclasses.dataclass
class Published:
    """An output artifact as the backend records it once its task succeeded."""
    mlmd_id: int
    uri: str
    metadata: dict


@dataclasses.dataclass
class TaskResult:
    seconds: float = 0.0
    outputs: Dict[str, Published] = dataclasses.field(default_factory=dict)
    skipped: bool = False
    cached: bool = False
    stand_in: bool = False  # another run's result in place of this run's (same inputs), to save the test time


def evaluate_condition(condition: str, inputs: dict) -> bool:
    """TFX's trigger conditions: `&&` of `inputs.artifacts['K'].artifacts[i].metadata['F'] == value` terms."""
    result = True
    for term in condition.split("&&"):
        term = term.strip("() ")  # TFX brackets each term and the whole; a term has no brackets of its own
        match = _CONDITION_TERM.fullmatch(term)
        if not match:
            raise ValueError(f"condition term this emulator does not read: {term!r}")
        key, index, field, operator, literal = match.groups()
        value = inputs["artifacts"][key]["artifacts"][int(index)]["metadata"].get(field)
        result = result and ((value == json.loads(literal)) == (operator == "=="))
    return result


class LocalKfpRun:
    """One run of a compiled PipelineSpec, task by task, as the open-source backend drives it."""

    def __init__(self, spec: dict, run_id: str, parameters: dict, work_dir: str, ids: List[int],
                 cache: Optional[Dict[str, TaskResult]] = None):
        """ids: the backend's artifact ids so far; cache: results by cache key, shared by the runs of one backend."""
        self.spec, self.run_id, self.work_dir, self.ids = spec, run_id, work_dir, ids
        self.cache = {} if cache is None else cache
        declared = spec["root"]["inputDefinitions"]["parameters"]
        self.parameters = {name: p["defaultValue"] for name, p in declared.items() if "defaultValue" in p}
        self.parameters.update(parameters)
        self.tasks = spec["root"]["dag"]["tasks"]
        self.results: Dict[str, TaskResult] = {}
        self._ids_lock = threading.Lock()  # tasks running at the same time publish their outputs

    def order(self) -> List[str]:
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2

        from pipeline.runners import kubeflow

        return kubeflow.task_order(json_format.ParseDict(self.spec, pipeline_spec_pb2.PipelineSpec()))

    def run(self, stand_ins: Optional[Dict[str, TaskResult]] = None) -> Dict[str, TaskResult]:
        """Every task once the tasks it depends on are done, as KFP schedules them (independent ones at the same
        time): from KFP's cache where it would be, else run (or its stand-in taken). The results in DAG order."""
        order = self.order()
        pending, running = list(order), {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(order)) as pool:
            while pending or running:
                ready = [name for name in pending
                         if set(self.tasks[name].get("dependentTasks", [])) <= set(self.results)]
                resolved = False
                for name in ready:
                    pending.remove(name)
                    key = self.cache_key(name)
                    if self.served_from_cache(name):
                        self.results[name], resolved = dataclasses.replace(self.cache[key], cached=True), True
                    elif stand_ins and name in stand_ins:
                        self.results[name], resolved = self.stand_in(stand_ins[name]), True
                    else:
                        running[pool.submit(self.run_task, name)] = name, key
                if resolved:
                    continue  # what it made ready starts now
                assert running, f"no task can start: {pending} wait for tasks that never ran"
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    name, key = running.pop(future)
                    self.results[name] = future.result()
                    if not self.results[name].skipped:
                        self.cache[key] = self.results[name]
        self.results = {name: self.results[name] for name in order}
        return self.results

    def new_id(self) -> int:
        """The backend's next artifact id."""
        with self._ids_lock:
            self.ids.append(len(self.ids) + 1)
            return self.ids[-1]

    def stand_in(self, result: TaskResult) -> TaskResult:
        """Another run's result as this run's: its outputs as new artifacts (the ids KFP's cache key sees)."""
        outputs = {key: dataclasses.replace(published, mlmd_id=self.new_id())
                   for key, published in result.outputs.items()}
        return dataclasses.replace(result, outputs=outputs, stand_in=True)

    def served_from_cache(self, task_name: str) -> bool:
        return bool(self.tasks[task_name].get("cachingOptions", {}).get("enableCache")) and \
            self.cache_key(task_name) in self.cache

    def cache_key(self, task_name: str) -> str:
        """What KFP's cache key holds of a task: its component, its parameter values, its inputs' artifact names."""
        inputs = self.executor_input(task_name)["inputs"]
        return json.dumps([self.tasks[task_name]["componentRef"]["name"], inputs["parameterValues"],
                           {key: [a["name"] for a in artifacts["artifacts"]]
                            for key, artifacts in inputs["artifacts"].items()}], sort_keys=True)

    def component(self, task_name: str) -> dict:
        return self.spec["components"][self.tasks[task_name]["componentRef"]["name"]]

    def executor_input(self, task_name: str) -> dict:
        task, component = self.tasks[task_name], self.component(task_name)
        parameters = {}
        for key, source in task.get("inputs", {}).get("parameters", {}).items():
            parameters[key] = (in_checkout(source["runtimeValue"]["constant"]) if "runtimeValue" in source
                               else self.parameters[source["componentInputParameter"]])
        artifacts = {}
        for key, source in task.get("inputs", {}).get("artifacts", {}).items():
            producer = self.results[source["taskOutputArtifact"]["producerTask"]]
            published = producer.outputs[source["taskOutputArtifact"]["outputArtifactKey"]]
            artifacts[key] = {"artifacts": [{
                "name": str(published.mlmd_id), "uri": published.uri, "type": {"instanceSchema": ""},
                "metadata": {k: through_mlmd(v) for k, v in published.metadata.items()}}]}
        outputs = {key: {"artifacts": [{"uri": self.output_uri(task_name, key), "type": output["artifactType"],
                                        "metadata": {}}]}
                   for key, output in component.get("outputDefinitions", {}).get("artifacts", {}).items()}
        outputs[LAUNCHER_LOGS_OUTPUT] = {"artifacts": [{"uri": self.output_uri(task_name, LAUNCHER_LOGS_OUTPUT),
                                                       "type": {"schemaTitle": "system.Artifact"}}]}
        return {"inputs": {"parameterValues": parameters, "artifacts": artifacts},
                "outputs": {"artifacts": outputs,
                            "outputFile": os.path.join(self.work_dir, task_name, "kfp_outputs",
                                                       "output_metadata.json")}}

    def output_uri(self, task_name: str, key: str) -> str:
        root = self.spec["defaultPipelineRoot"]
        return os.path.join(root, self.spec["pipelineInfo"]["name"], self.run_id, task_name, key)

    def run_task(self, task_name: str) -> TaskResult:
        executor_input = self.executor_input(task_name)
        condition = self.tasks[task_name].get("triggerPolicy", {}).get("condition")
        if condition and not evaluate_condition(condition, executor_input["inputs"]):
            return TaskResult(skipped=True)
        label = self.component(task_name)["executorLabel"]
        container = self.spec["deploymentSpec"]["executors"][label]["container"]
        command = [sys.executable if part == "python" else part for part in container["command"]]
        args = [json.dumps(executor_input) if arg == "{{$}}" else arg for arg in container["args"]]
        os.makedirs(os.path.join(self.work_dir, task_name), exist_ok=True)
        started = time.time()
        process = subprocess.run(command + args, cwd=os.path.join(self.work_dir, task_name), capture_output=True,
                                 text=True, timeout=1800)
        seconds = time.time() - started
        assert process.returncode == 0, f"{task_name} exited {process.returncode}:\n{process.stderr[-8000:]}"
        with open(executor_input["outputs"]["outputFile"]) as f:
            executor_output = json.load(f)
        assert LAUNCHER_LOGS_OUTPUT not in executor_output.get("artifacts", {})
        result = TaskResult(seconds=seconds)
        for key, artifact_list in executor_input["outputs"]["artifacts"].items():
            if key == LAUNCHER_LOGS_OUTPUT:
                continue
            declared = artifact_list["artifacts"][0]
            written = executor_output.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
            result.outputs[key] = Published(self.new_id(), written.get("uri") or declared["uri"],
                                            written.get("metadata", {}))
        return result


def files_under(uri: str) -> int:
    return sum(len(files) for _, _, files in os.walk(uri))


def report(title: str, results: Dict[str, TaskResult]) -> None:
    print(f"\n{title}")
    for name, result in results.items():
        state = "skipped (condition false)" if result.skipped else "cached" if result.cached else \
            "not cached: run 1's as stand-in" if result.stand_in else f"ran {result.seconds:6.1f} s"
        outputs = ", ".join(f"{key}: {files_under(p.uri)} files" for key, p in result.outputs.items())
        print(f"  {name:<18} {state:<26} {outputs}")


def served_versions(serving_dir: str) -> List[str]:
    return sorted(n for n in os.listdir(serving_dir) if n.isdigit()) if os.path.isdir(serving_dir) else []


@pytest.mark.e2e
@pytest.mark.slow
def test_compiled_spec_runs_task_by_task_as_open_source_kfp_runs_it(compiled_pipeline, tmp_path):
    started = time.time()
    run_cli("generate", "--output", str(tmp_path / "data"), "--size", str(DATA_SIZE))
    with open(compiled_pipeline.path) as f:
        spec = yaml.safe_load(f)
    data_root = str(tmp_path / "data" / "raw")  # MovieLens' ratings.csv and movies.csv
    ids: List[int] = []
    cache: Dict[str, TaskResult] = {}

    # First run: nothing is served yet, so the candidate is its own baseline; a reachable threshold blesses it.
    first = LocalKfpRun(spec, "run-1", submit.run_arguments(
        spec, [f"data_root={data_root}", "min_auc=0.5", "train_steps=200"]), str(tmp_path / "run-1"), ids, cache)
    results = first.run()
    report("first run (no baseline)", results)
    assert kubeflow_order(spec)[:2] == ["ImportSchemaGen", "SampleGen"]
    assert not [name for name, result in results.items() if result.skipped]
    for name, result in results.items():
        for key, published in result.outputs.items():
            assert os.path.isdir(published.uri), f"{name}.{key}: nothing at {published.uri}"
    examples = results["SampleGen"].outputs["examples"].metadata
    with open(os.path.join(data_root, "ratings.csv")) as f:
        assert examples["ratings_read"] == sum(1 for _ in f) - 1  # a header line
    assert examples["samples_train"] > 0 and examples["samples_eval"] > 0
    assert examples["split_mode"] == "global_time"
    trainer_args = json.loads(first.executor_input("Trainer")["inputs"]["parameterValues"]["train_args"])
    assert trainer_args["num_steps"] == 200
    assert results["ServingBaseline"].outputs["baseline_model"].metadata["is_candidate"] == 1
    assert results["Evaluator"].outputs["blessing"].metadata["blessed"] == 1
    assert results["Pusher"].outputs["pushed_model"].metadata["pushed"] == 1
    assert results["CatalogueEvaluator"].outputs["catalogue_evaluation"].metadata["ours_all_users"] > 0
    assert len(served_versions(compiled_pipeline.serving_dir)) == 1

    # Second run: the same files, a threshold no model reaches. KFP's cache key cannot see the files, so SampleGen
    # (caching off) would read them again and the tasks after it would read its new examples: only the schema import
    # is served from cache. The tasks before ServingBaseline take the first run's outputs as stand-ins.
    second = LocalKfpRun(spec, "run-2", submit.run_arguments(spec, [f"data_root={data_root}", "min_auc=0.999",
                                                                    "train_steps=200"]),
                         str(tmp_path / "run-2"), ids, cache)
    rerun = {"ServingBaseline", "Evaluator", "Pusher"}
    results = second.run(stand_ins={name: result for name, result in results.items() if name not in rerun})
    report("second run (same files, served baseline, threshold 0.999)", results)
    assert [name for name, result in results.items() if result.cached] == ["ImportSchemaGen"]
    assert second.cache_key("SampleGen") in cache and not second.served_from_cache("SampleGen")
    baseline = results["ServingBaseline"].outputs["baseline_model"].metadata
    assert baseline["is_candidate"] == 0 and baseline["baseline_version"] == served_versions(
        compiled_pipeline.serving_dir)[0]
    assert results["Evaluator"].outputs["blessing"].metadata["blessed"] == 0
    assert results["Pusher"].skipped
    assert len(served_versions(compiled_pipeline.serving_dir)) == 1
    print(f"\nexecution test: {time.time() - started:.0f} s")


def kubeflow_order(spec: dict) -> List[str]:
    return LocalKfpRun(spec, "order", {}, "", []).order()


@pytest.mark.slow
def test_the_sample_csv_spec_reads_its_csvs_under_open_source_kfps_rules(tmp_path):
    """The sample-CSV variant differs from the default by its first task: CsvExampleGen, run here alone."""
    run_cli("generate", "--output", str(tmp_path / "data"), "--size", str(DATA_SIZE))
    package = str(tmp_path / "csv.yaml")
    run_cli("compile", "--samples", "--output", package, "--pipeline-root", str(tmp_path / "root"),
            "--serving-dir", str(tmp_path / "serving"))
    with open(package) as f:
        spec = yaml.safe_load(f)
    run = LocalKfpRun(spec, "run-1", submit.run_arguments(spec, [f"data_root={tmp_path / 'data' / 'samples'}"]),
                      str(tmp_path / "run-1"), [])
    assert kubeflow_order(spec)[:2] == ["CsvExampleGen", "ImportSchemaGen"]
    result = run.run_task("CsvExampleGen")
    examples = result.outputs["examples"]
    assert sorted(os.listdir(examples.uri)) == ["Split-eval", "Split-train"]
    assert files_under(examples.uri) >= 2
    report("sample-CSV spec", {"CsvExampleGen": result})
