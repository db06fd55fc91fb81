"""`sparrow-tfx submit` against a loopback Kubeflow Pipelines API (http.server on 127.0.0.1): the request carries
the compiled spec intact, the run's parameters and the bearer token from the environment; unreachable hosts,
refused credentials and rejected specs give clear errors."""
from __future__ import annotations

import http.server
import json
import threading
import urllib.parse

import pytest
import yaml

from pipeline.cli.commands import submit
from tests.conftest import run_cli

TOKEN = "test-token-5f1c"  # a made-up bearer token
pytestmark = pytest.mark.slow  # the compiled_pipeline fixture compiles the real pipeline once per session


class FakeKfpApi(http.server.ThreadingHTTPServer):
    """The few KFP v2beta1 endpoints kfp.Client uses to create a run; records every request."""

    def __init__(self, token=None, reject_runs_with=None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token, self.reject_runs_with, self.requests = token, reject_runs_with, []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def posted(self, path: str) -> list:
        return [r["body"] for r in self.requests if r["method"] == "POST" and r["path"] == path]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeKfpApi

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        path = urllib.parse.urlparse(self.path).path
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append({"method": method, "path": path, "body": body,
                                     "authorization": self.headers.get("Authorization")})
        if self.server.token and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self._reply(401, {"code": 16, "message": "Unauthenticated"})
        if path == "/apis/v2beta1/healthz":
            return self._reply(200, {"multi_user": False})
        if path == "/apis/v2beta1/experiments":
            if method == "GET":
                return self._reply(200, {})
            return self._reply(200, {"experiment_id": "exp-1", "display_name": body["display_name"]})
        if path == "/apis/v2beta1/runs":
            if self.server.reject_runs_with:
                return self._reply(400, {"code": 3, "message": self.server.reject_runs_with})
            return self._reply(200, {"run_id": "run-1", "display_name": body["display_name"], "state": "PENDING"})
        if path == "/apis/v2beta1/recurringruns":
            return self._reply(200, {"recurring_run_id": "rec-1", "display_name": body["display_name"]})
        return self._reply(404, {"message": f"no route {path}"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def log_message(self, *args):
        pass


@pytest.fixture
def api(request):
    server = FakeKfpApi(**getattr(request, "param", {}))
    server.thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def submit_cli(monkeypatch):
    """Runs `sparrow-tfx submit --host HOST --package PACKAGE ARGS` with only the given token variables set."""
    def run(package: str, host: str, *args: str, token_env: dict = None):
        for key in (submit.TOKEN_ENV, submit.TOKEN_FILE_ENV):
            monkeypatch.delenv(key, raising=False)
        for key, value in (token_env or {}).items():
            monkeypatch.setenv(key, value)
        return run_cli("submit", "--host", host, "--package", package, *args, check=False, timeout=300)
    return run


@pytest.mark.parametrize("api", [{"token": TOKEN}], indirect=True)
def test_run_carries_the_spec_intact_the_parameters_and_the_token(api, compiled_pipeline, submit_cli):
    result = submit_cli(compiled_pipeline.path, api.url, "--experiment", "nightly", "--run-name", "r1",
                        "--param", "data_root=gs://bucket/samples", "--param", "train_steps=500",
                        "--param", "min_auc=0.75", token_env={submit.TOKEN_ENV: TOKEN})
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"run run-1: {api.url}/#/runs/details/run-1" in result.stdout
    (run,) = api.posted("/apis/v2beta1/runs")
    with open(compiled_pipeline.path) as f:
        assert run["pipeline_spec"] == yaml.safe_load(f)
    parameters = run["runtime_config"]["parameters"]
    assert parameters["data_root"] == "gs://bucket/samples"
    assert json.loads(parameters["train_args"]) == {"num_steps": 500, "splits": ["train"]}
    eval_config = json.loads(parameters["eval_config"])
    auc = [m for m in eval_config["metrics_specs"][0]["metrics"] if m["class_name"] == "AUC"][0]
    assert auc["per_slice_thresholds"][0]["threshold"]["value_threshold"]["lower_bound"] == 0.75
    assert run["display_name"] == "r1" and run["experiment_id"] == "exp-1"
    assert api.posted("/apis/v2beta1/experiments")[0]["display_name"] == "nightly"
    assert {r["authorization"] for r in api.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in json.dumps(run) and TOKEN not in open(compiled_pipeline.path).read()


def test_recurring_run_with_a_token_file(api, compiled_pipeline, tmp_path, submit_cli):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    result = submit_cli(compiled_pipeline.path, api.url, "--recurring", "0 0 3 * * *",
                        "--param", "data_root=gs://bucket/samples", "--pipeline-root", "gs://bucket/other-root",
                        token_env={submit.TOKEN_FILE_ENV: str(token_file)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "recurring run rec-1" in result.stdout
    (recurring,) = api.posted("/apis/v2beta1/recurringruns")
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert recurring["runtime_config"]["pipeline_root"] == "gs://bucket/other-root"
    assert {r["authorization"] for r in api.requests} == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize("api", [{"token": TOKEN}], indirect=True)
def test_refused_credentials_are_named(api, compiled_pipeline, submit_cli):
    result = submit_cli(compiled_pipeline.path, api.url, "--param", "data_root=gs://b/s",
                        token_env={submit.TOKEN_ENV: "wrong"})
    assert result.returncode == 1
    assert "refused the credentials (HTTP 401)" in result.stderr and submit.TOKEN_ENV in result.stderr
    assert not api.posted("/apis/v2beta1/runs")


@pytest.mark.parametrize("api", [{"reject_runs_with": "invalid pipeline spec: unknown template format"}],
                         indirect=True)
def test_rejected_spec_shows_the_servers_message(api, compiled_pipeline, submit_cli):
    result = submit_cli(compiled_pipeline.path, api.url, "--param", "data_root=gs://b/s")
    assert result.returncode == 1
    assert "rejected the run (HTTP 400): invalid pipeline spec: unknown template format" in result.stderr


def test_unreachable_host(compiled_pipeline, api, submit_cli):
    api.shutdown()
    api.server_close()  # nothing listens on this port any more
    result = submit_cli(compiled_pipeline.path, api.url, "--param", "data_root=gs://b/s")
    assert result.returncode == 1
    assert f"cannot reach Kubeflow Pipelines at {api.url}" in result.stderr


@pytest.mark.parametrize("params,message", [
    ([], "the pipeline needs --param data_root=..."),
    (["data_root=x", "colour=blue"], "unknown parameter 'colour'"),
    (["data_root=x", "train_steps=many"], "--param train_steps: 'many' is not of type int"),
    (["data_root"], "--param expects KEY=VALUE"),
])
def test_parameters_are_checked_against_the_spec(compiled_pipeline, params, message):
    with open(compiled_pipeline.path) as f:
        spec = yaml.safe_load(f)
    with pytest.raises(submit.SubmitError, match=message):
        submit.run_arguments(spec, params)


def test_sample_options_set_sample_gens_parameters(api, compiled_pipeline, submit_cli):
    result = submit_cli(compiled_pipeline.path, api.url, "--param", "data_root=gs://bucket/ml-latest-small",
                        "--sample-option", "split_mode=user_last", "--sample-option", "eval_ratings_per_user=2",
                        "--param", "features_mode=leaky")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = api.posted("/apis/v2beta1/runs")
    parameters = run["runtime_config"]["parameters"]
    assert (parameters["split_mode"], parameters["eval_ratings_per_user"], parameters["features_mode"]) == (
        "user_last", 2, "leaky")
    assert "eval_fraction" not in parameters  # the compiled default holds


@pytest.mark.parametrize("params,sample_options,message", [
    (["data_root=x"], ["colour=blue"], "--sample-option colour: no such SampleGen option; the options are split_mode"),
    (["data_root=x", "eval_fraction=2"], [], r"eval_fraction must be in \(0, 1\)"),
    (["data_root=x"], ["split_mode=random"], "split_mode must be 'global_time' or 'user_last'"),
    (["data_root=x"], ["split_mode"], "--sample-option expects KEY=VALUE, got 'split_mode'"),
])
def test_sample_options_are_checked_as_sample_gen_checks_them(compiled_pipeline, params, sample_options, message):
    with open(compiled_pipeline.path) as f:
        spec = yaml.safe_load(f)
    with pytest.raises(submit.SubmitError, match=message):
        submit.run_arguments(spec, params, sample_options)


def test_sample_options_need_a_sample_gen_package(tmp_path):
    from pipeline.cli import main

    package = str(tmp_path / "csv.yaml")
    assert main.main(["compile", "--samples", "--output", package, "--pipeline-root", "gs://bucket/root"]) == 0
    with open(package) as f:
        spec = yaml.safe_load(f)
    with pytest.raises(submit.SubmitError, match="--sample-option applies to raw MovieLens input; this package "
                                                 "reads sample CSVs"):
        submit.run_arguments(spec, ["data_root=gs://bucket/samples"], ["split_mode=user_last"])


def test_package_without_a_root_needs_one(compiled_pipeline, tmp_path, submit_cli):
    with open(compiled_pipeline.path) as f:
        spec = yaml.safe_load(f)
    del spec["defaultPipelineRoot"]
    package = tmp_path / "no-root.yaml"
    package.write_text(yaml.safe_dump(spec))
    result = submit_cli(str(package), "http://127.0.0.1:9", "--param", "data_root=gs://b/s")
    assert result.returncode == 1 and "has no pipeline root: give --pipeline-root" in result.stderr
