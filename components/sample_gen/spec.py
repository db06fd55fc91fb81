"""SampleGen's contract: keys defined once for the component, the executor and the tests."""
import dataclasses

from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2
from tfx.types import component_spec, standard_artifacts, standard_component_specs

from components.sample_gen.config import SampleGenConfig
from dataio import raw_rows

# ExampleGen's keys: TFX's FileBasedDriver reads these to fingerprint the input files (the cache key).
INPUT_BASE_KEY = standard_component_specs.INPUT_BASE_KEY
INPUT_CONFIG_KEY = standard_component_specs.INPUT_CONFIG_KEY
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY
# The input config names the raw files, one Input.Split each (the output splits are made by time).
RATINGS_FILE = "ratings"
MOVIES_FILE = "movies"
# Relative to input_base: MovieLens' files, the ratings as ratings.csv or as span files (raw_rows.ratings_files).
RATINGS_PATTERN = raw_rows.RATINGS_GLOB
MOVIES_PATTERN = raw_rows.MOVIES_FILE
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
SPLITS = (TRAIN_SPLIT, EVAL_SPLIT)
# Files in the Examples artifact beside Split-train/ and Split-eval/.
REPORT_FILE = "sample_gen_report.json"
# Custom properties of the Examples: the newest span read (TFX's ExampleGen property) and every span read, as
# "1-3,5" (raw_rows.span_ranges), which the readers of raw ratings after SampleGen read again.
SPAN_PROPERTY = example_gen_utils.SPAN_PROPERTY_NAME
SPANS_PROPERTY = "spans"
REJECTED_ROWS_DIR = "rejected_rows"
WORK_DIR = "sample_gen_tmp"  # the job's intermediates (shuffle shards, report parts), deleted when it ends


def raw_files_config(ratings_pattern: str = RATINGS_PATTERN, movies_pattern: str = MOVIES_PATTERN
                     ) -> example_gen_pb2.Input:
    return example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name=RATINGS_FILE, pattern=ratings_pattern),
        example_gen_pb2.Input.Split(name=MOVIES_FILE, pattern=movies_pattern),
    ])


class SampleGenSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        INPUT_BASE_KEY: component_spec.ExecutionParameter(type=str),
        INPUT_CONFIG_KEY: component_spec.ExecutionParameter(type=example_gen_pb2.Input),
        # Every option of SampleGenConfig, under its field name.
        **{field.name: component_spec.ExecutionParameter(type=type(field.default))
           for field in dataclasses.fields(SampleGenConfig)},
    }
    INPUTS = {}
    OUTPUTS = {EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples)}
