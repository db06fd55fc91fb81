"""`sparrow-tfx submit`: upload the compiled pipeline to Kubeflow Pipelines and start a run or a recurring run.

Authentication for multi-user Kubeflow comes from the environment, never from the command line (where it would
land in shell history and process lists) and never from the spec: KF_PIPELINES_TOKEN holds a bearer token, or
KF_PIPELINES_TOKEN_FILE names a file holding one (e.g. a mounted service-account token).
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

import yaml

TOKEN_ENV = "KF_PIPELINES_TOKEN"
TOKEN_FILE_ENV = "KF_PIPELINES_TOKEN_FILE"
HEALTHZ_PATH = "/apis/v2beta1/healthz"
# Convenience parameters: each rewrites the proto JSON of a compiled run-time parameter (see create_pipeline).
DERIVED_PARAMETERS = {"train_steps": int, "min_auc": float, "max_auc_regression": float}
_TYPES = {"STRING": str, "NUMBER_INTEGER": int, "NUMBER_DOUBLE": float,
          "BOOLEAN": lambda text: {"true": True, "false": False}[text.lower()],
          "LIST": json.loads, "STRUCT": json.loads}


class SubmitError(RuntimeError):
    """Why the run was not created, in words the user can act on."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("submit", help="start a run of the compiled pipeline on Kubeflow Pipelines")
    parser.add_argument("--host", required=True,
                        help="the KFP API endpoint, e.g. https://kubeflow.example.com/pipeline")
    parser.add_argument("--namespace", help="the Kubeflow profile namespace (multi-user Kubeflow)")
    parser.add_argument("--experiment", default="sparrow-tfx", help="experiment to run in (created if missing)")
    parser.add_argument("--run-name", help="display name of the run (default: the package name and the time)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a run-time parameter (data_root, train_args, eval_config, SampleGen's options) or a "
                             f"convenience one ({', '.join(DERIVED_PARAMETERS)}) that rewrites train_args/eval_config "
                             "(repeatable)")
    parser.add_argument("--sample-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a SampleGen option for this run, as `run --sample-option` (a package compiled for raw "
                             "MovieLens input; repeatable)")
    parser.add_argument("--package", default="pipeline.yaml", help="the compiled PipelineSpec YAML")
    parser.add_argument("--pipeline-root", help="gs:// or s3:// root for this run (default: the package's)")
    parser.add_argument("--recurring", metavar="CRON",
                        help="create a recurring run on this schedule instead (6 fields, e.g. '0 0 3 * * *')")
    parser.set_defaults(handler=handle)


def load_spec(package: str) -> dict:
    try:
        with open(package) as f:
            spec = yaml.safe_load(f)
    except OSError as error:
        raise SubmitError(f"cannot read the package {package}: {error.strerror} (compile it with "
                          "`sparrow-tfx compile`)") from None
    if not isinstance(spec, dict) or "root" not in spec or "deploymentSpec" not in spec:
        raise SubmitError(f"{package} is not a compiled PipelineSpec (`sparrow-tfx compile` writes one)")
    return spec


def sample_option_parameters(declared: dict, pairs: List[str]) -> List[str]:
    """--sample-option KEY=VALUE pairs as the run-time parameters they set (SampleGen's, named after its options)."""
    from pipeline.cli.commands import sample_options

    if pairs and not set(sample_options.OPTION_NAMES) & set(declared):
        raise SubmitError("--sample-option applies to raw MovieLens input; this package reads sample CSVs (compiled "
                          "with --samples or --data): compile it without them for SampleGen")
    for pair in pairs:
        if "=" not in pair:
            raise SubmitError(f"--sample-option expects KEY=VALUE, got {pair!r}")
    problem = sample_options.unknown([pair.partition("=")[0] for pair in pairs])
    if problem:
        raise SubmitError(problem)
    return pairs


def check_sample_gen_options(declared: dict, values: Dict[str, Any]) -> None:
    """The run's SampleGen options, checked as SampleGen checks them (it would fail only once its task runs)."""
    from pipeline.cli.commands import sample_options

    names = [name for name in sample_options.OPTION_NAMES if name in declared]
    if not names:
        return
    try:
        sample_options.config({name: values.get(name, declared[name].get("defaultValue")) for name in names})
    except ValueError as error:
        raise SubmitError(str(error)) from None


def run_arguments(spec: dict, pairs: List[str], sample_option_pairs: List[str] = ()) -> Dict[str, Any]:
    """The run's parameter values from KEY=VALUE pairs, typed as the spec declares them; required ones checked."""
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    values: Dict[str, Any] = {}
    derived: Dict[str, Any] = {}
    for pair in [*pairs, *sample_option_parameters(declared, list(sample_option_pairs))]:
        key, sep, text = pair.partition("=")
        if not sep:
            raise SubmitError(f"--param expects KEY=VALUE, got {pair!r}")
        kind = declared[key]["parameterType"] if key in declared else None
        convert = _TYPES.get(kind) or DERIVED_PARAMETERS.get(key)
        if convert is None:
            raise SubmitError(f"unknown parameter {key!r}; the pipeline takes "
                              f"{', '.join(sorted(declared) + list(DERIVED_PARAMETERS))}")
        try:
            (values if key in declared else derived)[key] = convert(text)
        except (ValueError, KeyError):
            raise SubmitError(f"--param {key}: {text!r} is not of type {kind or convert.__name__}") from None
    values.update(_expand(derived, declared, values))
    check_sample_gen_options(declared, values)
    missing = [key for key, parameter in declared.items() if key not in values and not parameter.get("isOptional")]
    if missing:
        raise SubmitError(f"the pipeline needs {', '.join(f'--param {key}=...' for key in missing)}")
    return values


def _expand(derived: Dict[str, Any], declared: dict, values: Dict[str, Any]) -> Dict[str, str]:
    """The compiled JSON parameters that the convenience parameters rewrite (on the run's or the default value)."""
    if not derived:
        return {}
    from google.protobuf import json_format

    from pipeline import pipeline as pipeline_lib

    def current(name):
        return values.get(name) or declared[name]["defaultValue"]

    expanded = {}
    if "train_steps" in derived:
        from tfx.proto import trainer_pb2

        train_args = json_format.Parse(current(pipeline_lib.TRAIN_ARGS_PARAMETER), trainer_pb2.TrainArgs())
        train_args.num_steps = derived["train_steps"]
        expanded[pipeline_lib.TRAIN_ARGS_PARAMETER] = pipeline_lib.parameter_json(train_args)
    if {"min_auc", "max_auc_regression"} & set(derived):
        import tensorflow_model_analysis as tfma

        from components.evaluator import eval_config

        gate = eval_config.Gate.from_eval_config(
            json_format.Parse(current(pipeline_lib.EVAL_CONFIG_PARAMETER), tfma.EvalConfig()))
        config = eval_config.eval_config(derived.get("min_auc", gate.min_auc),
                                        derived.get("max_auc_regression", gate.max_auc_regression))
        expanded[pipeline_lib.EVAL_CONFIG_PARAMETER] = pipeline_lib.parameter_json(config)
    return expanded


def auth_token() -> Optional[str]:
    token, token_file = os.environ.get(TOKEN_ENV), os.environ.get(TOKEN_FILE_ENV)
    if token and token_file:
        raise SubmitError(f"set {TOKEN_ENV} or {TOKEN_FILE_ENV}, not both")
    if token_file:
        try:
            with open(token_file) as f:
                token = f.read().strip()
        except OSError as error:
            raise SubmitError(f"{TOKEN_FILE_ENV}={token_file}: {error.strerror}") from None
        if not token:
            raise SubmitError(f"{TOKEN_FILE_ENV}={token_file} is empty")
    return token or None


def _auth_failed(host: str, detail: str) -> SubmitError:
    return SubmitError(f"Kubeflow Pipelines at {host} refused the credentials ({detail}): set {TOKEN_ENV} to a valid "
                       f"bearer token or {TOKEN_FILE_ENV} to a file holding one, with access to the namespace")


def check_reachable(host: str, token: Optional[str], timeout: float = 15) -> None:
    """Fails fast and clearly when the API is unreachable or refuses the credentials (kfp.Client would retry)."""
    url = host.rstrip("/") + HEALTHZ_PATH
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            redirected = response.geturl() != url
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise _auth_failed(host, f"HTTP {error.code}") from None
        raise SubmitError(f"{url} answered HTTP {error.code}: is {host} the Kubeflow Pipelines API?") from None
    except (urllib.error.URLError, OSError) as error:
        raise SubmitError(f"cannot reach Kubeflow Pipelines at {host}: {getattr(error, 'reason', error)}") from None
    if redirected:
        raise _auth_failed(host, "redirected to a login page")


def _api_error(host: str, error) -> SubmitError:
    if error.status in (401, 403):
        return _auth_failed(host, f"HTTP {error.status}")
    try:
        message = json.loads(error.body).get("message") or error.body
    except (TypeError, ValueError, AttributeError):
        message = error.body or error.reason
    return SubmitError(f"Kubeflow Pipelines rejected the run (HTTP {error.status}): {message}")


def submit(args) -> str:
    """Creates the run (or recurring run) and returns the line to print."""
    import kfp
    import kfp_server_api
    import urllib3

    spec = load_spec(args.package)
    arguments = run_arguments(spec, args.param, args.sample_option)
    if not (args.pipeline_root or spec.get("defaultPipelineRoot")):
        raise SubmitError(f"{args.package} has no pipeline root: give --pipeline-root gs://... or s3://... "
                          "(TFX cannot write KFP's default minio:// root)")
    token = auth_token()
    check_reachable(args.host, token)
    host = args.host.rstrip("/")
    try:
        client = kfp.Client(host=host, existing_token=token, namespace=args.namespace)
        if args.recurring:
            experiment = client.create_experiment(args.experiment, namespace=args.namespace)
            recurring = client.create_recurring_run(
                experiment.experiment_id, args.run_name or f"{spec['pipelineInfo']['name']} ({args.recurring})",
                cron_expression=args.recurring, pipeline_package_path=args.package, params=arguments,
                pipeline_root=args.pipeline_root)
            return f"recurring run {recurring.recurring_run_id}: {host}/#/recurringrun/details/" \
                   f"{recurring.recurring_run_id}"
        result = client.create_run_from_pipeline_package(
            args.package, arguments=arguments, run_name=args.run_name, experiment_name=args.experiment,
            namespace=args.namespace, pipeline_root=args.pipeline_root)
        return f"run {result.run_id}: {host}/#/runs/details/{result.run_id}"
    except kfp_server_api.ApiException as error:
        raise _api_error(host, error) from None
    except urllib3.exceptions.HTTPError as error:
        raise SubmitError(f"lost the connection to Kubeflow Pipelines at {host}: {error}") from None


def handle(args) -> int:
    try:
        print(submit(args))
    except SubmitError as error:
        raise SystemExit(f"error: {error}") from None
    return 0
