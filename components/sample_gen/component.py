"""SampleGen: raw MovieLens files (ratings.csv, movies.csv) -> point-in-time samples, split by time.

Its output is an Examples artifact in ExampleGen's layout (Split-train/, Split-eval/ of gzipped tf.Example
TFRecords, split_names set), so StatisticsGen, Transform and Evaluator consume it as they would ExampleGen's.
TFX's FileBasedDriver fingerprints the input files, so changed files invalidate the cache and unchanged ones
are served from it.
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


class SampleGen(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = spec.SampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(self, input_base: Union[str, data_types.RuntimeParameter],
                 config: SampleGenConfig = SampleGenConfig(),
                 ratings_pattern: str = spec.RATINGS_PATTERN, movies_pattern: str = spec.MOVIES_PATTERN):
        """input_base: the directory of the raw files; the patterns are relative to it (globs allowed)."""
        super().__init__(spec.SampleGenSpec(
            input_base=input_base,
            input_config=spec.raw_files_config(ratings_pattern, movies_pattern),
            examples=types.Channel(type=standard_artifacts.Examples),
            **dataclasses.asdict(config)))
