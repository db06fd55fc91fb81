"""Beam runner presets: the `beam_pipeline_args` each runner needs, for local runs and compiled pipelines.

- direct: Beam's direct runner in the process that runs the component (default);
- flink / spark: a portable job server (`--job-endpoint host:port`) that runs the SDK harness in an environment:
  LOOPBACK (the submitting process; local runs), DOCKER (the pipeline image; compiled specs), EXTERNAL (a worker
  pool, `--environment-config host:port`) or PROCESS;
- dataflow: Google Cloud Dataflow; needs a project, a region and a gs:// temp location. Compiled specs run the
  workers in the pipeline image, so they have this project's code and the same Beam SDK.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

RUNNERS = ("direct", "flink", "spark", "dataflow")
DIRECT_RUNNING_MODES = ("in_memory", "multi_threading", "multi_processing")
ENVIRONMENT_TYPES = ("LOOPBACK", "DOCKER", "EXTERNAL", "PROCESS")
_PORTABLE_RUNNER_CLASSES = {"flink": "FlinkRunner", "spark": "SparkRunner"}


class BeamSettingsError(ValueError):
    """The Beam flags do not fit the chosen runner; the message names the flag."""


@dataclasses.dataclass(frozen=True)
class BeamSettings:
    runner: str = "direct"
    direct_workers: int = 0  # 0: one per CPU of the machine the component runs on (Beam's own meaning of 0)
    direct_running_mode: str = "in_memory"
    dataflow_project: Optional[str] = None
    dataflow_region: Optional[str] = None
    dataflow_temp_location: Optional[str] = None
    job_endpoint: Optional[str] = None
    environment_type: Optional[str] = None
    environment_config: Optional[str] = None
    extra_args: Tuple[str, ...] = ()


# Flags that belong to one kind of runner, as (settings field, command-line flag, runners it applies to).
_RUNNER_SPECIFIC = (
    ("direct_workers", "--direct-workers", ("direct",)),
    ("direct_running_mode", "--direct-running-mode", ("direct",)),
    ("dataflow_project", "--dataflow-project", ("dataflow",)),
    ("dataflow_region", "--dataflow-region", ("dataflow",)),
    ("dataflow_temp_location", "--dataflow-temp-location", ("dataflow",)),
    ("job_endpoint", "--job-endpoint", ("flink", "spark")),
    ("environment_type", "--environment-type", ("flink", "spark")),
    ("environment_config", "--environment-config", ("flink", "spark")),
)


def direct_args(workers: int = 0, running_mode: str = "in_memory") -> List[str]:
    """Beam's direct runner sized to the machine it runs on (workers=0: one per CPU).

    In `in_memory` mode the workers are bundles of one process (no parallelism, no process start-up), so "one per
    CPU" means one there: more only split the work and slow the Evaluator down. The
    `multi_processing` mode runs them as parallel processes.
    One in-memory worker is Beam's default and needs no flags. No flags also keeps TFX from repackaging itself
    for remote workers: given any Beam flag, each Beam component copies TFX's install (48 MB, left in /tmp) and
    builds an sdist of it per component, which the direct runner never reads.
    """
    if running_mode == "in_memory" and workers in (0, 1):
        return []
    return [f"--direct_running_mode={running_mode}", f"--direct_num_workers={workers}"]


def pipeline_args(settings: BeamSettings, worker_image: Optional[str] = None) -> List[str]:
    """The Beam flags of a preset; worker_image is the pipeline image, when the workers can run it."""
    _validate(settings)
    if settings.runner == "direct":
        args = direct_args(settings.direct_workers, settings.direct_running_mode)
    elif settings.runner == "dataflow":
        args = ["--runner=DataflowRunner", f"--project={settings.dataflow_project}",
                f"--region={settings.dataflow_region}", f"--temp_location={settings.dataflow_temp_location}"]
        if worker_image:
            args.append(f"--sdk_container_image={worker_image}")
    else:
        args = [f"--runner={_PORTABLE_RUNNER_CLASSES[settings.runner]}", f"--job_endpoint={settings.job_endpoint}"]
        environment_type, environment_config = _portable_environment(settings, worker_image)
        args.append(f"--environment_type={environment_type}")
        if environment_config:
            args.append(f"--environment_config={environment_config}")
    return args + list(settings.extra_args)


def _portable_environment(settings: BeamSettings, worker_image: Optional[str]) -> Tuple[str, Optional[str]]:
    """Where the SDK harness runs: as asked, else in the pipeline image (compiled), else in this process."""
    environment_type = settings.environment_type or ("DOCKER" if worker_image else "LOOPBACK")
    environment_config = settings.environment_config
    if environment_type == "DOCKER" and not environment_config:
        environment_config = worker_image
    if environment_type != "LOOPBACK" and not environment_config:
        raise BeamSettingsError(f"--environment-type {environment_type} needs --environment-config "
                                "(DOCKER: an image, EXTERNAL: a worker pool host:port, PROCESS: a command JSON)")
    return environment_type, environment_config


def _validate(settings: BeamSettings) -> None:
    if settings.runner not in RUNNERS:
        raise BeamSettingsError(f"--beam-runner must be one of {', '.join(RUNNERS)}, got {settings.runner!r}")
    defaults = BeamSettings()
    for field, flag, runners in _RUNNER_SPECIFIC:
        if settings.runner not in runners and getattr(settings, field) != getattr(defaults, field):
            raise BeamSettingsError(f"{flag} applies to --beam-runner {'/'.join(runners)}, "
                                    f"not {settings.runner}")
    if settings.runner == "direct":
        if settings.direct_workers < 0:
            raise BeamSettingsError(f"--direct-workers must be 0 (one per CPU) or more, got {settings.direct_workers}")
        if settings.direct_running_mode not in DIRECT_RUNNING_MODES:
            raise BeamSettingsError(f"--direct-running-mode must be one of {', '.join(DIRECT_RUNNING_MODES)}")
    elif settings.runner == "dataflow":
        missing = [flag for field, flag, runners in _RUNNER_SPECIFIC
                   if runners == ("dataflow",) and not getattr(settings, field)]
        if missing:
            raise BeamSettingsError(f"--beam-runner dataflow needs {', '.join(missing)}")
        if not settings.dataflow_temp_location.startswith("gs://"):
            raise BeamSettingsError("--dataflow-temp-location must be a gs:// path, got "
                                    f"{settings.dataflow_temp_location!r}")
    else:
        if not settings.job_endpoint:
            raise BeamSettingsError(f"--beam-runner {settings.runner} needs --job-endpoint HOST:PORT "
                                    "(the Beam job server)")
        if settings.environment_type and settings.environment_type not in ENVIRONMENT_TYPES:
            raise BeamSettingsError(f"--environment-type must be one of {', '.join(ENVIRONMENT_TYPES)}")


def add_arguments(parser) -> None:
    """The Beam flags of `sparrow-tfx run` and `sparrow-tfx compile`."""
    group = parser.add_argument_group("Beam", "where the Beam-powered components (ExampleGen, StatisticsGen, "
                                              "Transform, Evaluator) run their pipelines")
    group.add_argument("--beam-runner", choices=RUNNERS, default="direct", help="runner preset (default: direct)")
    group.add_argument("--direct-workers", type=int, default=0, help="direct: workers (0: one per CPU)")
    group.add_argument("--direct-running-mode", choices=DIRECT_RUNNING_MODES, default="in_memory",
                       help="direct: in_memory (one process, default), multi_threading or multi_processing")
    group.add_argument("--dataflow-project", help="dataflow: the Google Cloud project")
    group.add_argument("--dataflow-region", help="dataflow: the region, e.g. europe-west1")
    group.add_argument("--dataflow-temp-location", help="dataflow: a gs:// path for temporary files")
    group.add_argument("--job-endpoint", help="flink/spark: the Beam job server, HOST:PORT")
    group.add_argument("--environment-type", choices=ENVIRONMENT_TYPES,
                       help="flink/spark: where the SDK harness runs (default: LOOPBACK for local runs, "
                            "DOCKER with the pipeline image for compiled pipelines)")
    group.add_argument("--environment-config", help="flink/spark: image, worker pool HOST:PORT or command JSON")
    group.add_argument("--beam-arg", action="append", default=[], metavar="FLAG",
                       help="any other Beam pipeline flag, e.g. --beam-arg=--max_num_workers=8 (repeatable)")


def from_args(args) -> BeamSettings:
    return BeamSettings(
        runner=args.beam_runner, direct_workers=args.direct_workers, direct_running_mode=args.direct_running_mode,
        dataflow_project=args.dataflow_project, dataflow_region=args.dataflow_region,
        dataflow_temp_location=args.dataflow_temp_location, job_endpoint=args.job_endpoint,
        environment_type=args.environment_type, environment_config=args.environment_config,
        extra_args=tuple(args.beam_arg))


def cli_pipeline_args(args, worker_image: Optional[str] = None) -> List[str]:
    """`pipeline_args` for parsed command-line flags; flags that do not fit the runner end the command."""
    try:
        return pipeline_args(from_args(args), worker_image)
    except BeamSettingsError as error:
        raise SystemExit(f"error: {error}") from None
