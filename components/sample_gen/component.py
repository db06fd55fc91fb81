"""SampleGen: raw MovieLens files (ratings.csv, movies.csv) -> point-in-time samples, split by time.

Its output is an Examples artifact in ExampleGen's layout (Split-train/, Split-eval/ of gzipped tf.Example
TFRecords, split_names set), so StatisticsGen, Transform and Evaluator consume it as they would ExampleGen's.
Cache: run locally, TFX's FileBasedDriver fingerprints the input files, so changed files invalidate the cache and
unchanged ones are served from it. Open-source Kubeflow Pipelines never runs that driver (TFX compiles it into a
`preCacheCheck` hook only Vertex runs) and keys its cache on the data_root string alone, so compiled specs turn
KFP's cache off for this task (pipeline/runners/kubeflow.py).
"""
import dataclasses
from typing import Union

from tfx import types
from tfx.components.example_gen import driver
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts

from components.sample_gen import executor, spec
from components.sample_gen.config import SampleGenConfig


def run_time_options(config: SampleGenConfig) -> dict:
    """Each option as a run-time parameter named after its field, with config's value as its default (the
    executor checks the values a run gives, as it checks any config)."""
    return {name: data_types.RuntimeParameter(name=name, ptype=type(value), default=value)
            for name, value in dataclasses.asdict(config).items()}


class SampleGen(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = spec.SampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(self, input_base: Union[str, data_types.RuntimeParameter],
                 config: SampleGenConfig = SampleGenConfig(),
                 ratings_pattern: str = spec.RATINGS_PATTERN, movies_pattern: str = spec.MOVIES_PATTERN,
                 options_as_parameters: bool = False):
        """input_base: the directory of the raw files; the patterns are relative to it (globs allowed).
        options_as_parameters: every option a run-time parameter (compiled pipelines), config the defaults."""
        super().__init__(spec.SampleGenSpec(
            input_base=input_base,
            input_config=spec.raw_files_config(ratings_pattern, movies_pattern),
            examples=types.Channel(type=standard_artifacts.Examples),
            **(run_time_options(config) if options_as_parameters else dataclasses.asdict(config))))
