"""SampleGen executor: resolve the raw files, run the Beam job, record its report on the Examples artifact."""
import dataclasses
import logging
import os
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.sample_gen import beam_samples, report, spec
from components.sample_gen.config import SampleGenConfig
from dataio import raw_rows


def _raw_files(exec_properties: Dict[str, Any]) -> Dict[str, List[str]]:
    """Input.Split name (ratings, movies) -> the files its pattern matches under input_base."""
    input_config = proto_utils.json_to_proto(exec_properties[spec.INPUT_CONFIG_KEY], example_gen_pb2.Input())
    files = {}
    for split in input_config.splits:
        pattern = os.path.join(exec_properties[spec.INPUT_BASE_KEY], split.pattern)
        files[split.name] = sorted(fileio.glob(pattern))
        if not files[split.name]:
            raise FileNotFoundError(f"SampleGen: no {split.name} file matches {pattern}: the raw input directory "
                                    f"needs MovieLens' {raw_rows.RATINGS_FILE} (or span files "
                                    f"{raw_rows.RATINGS_SPAN_PATTERN}) and {spec.MOVIES_PATTERN} "
                                    "(`sparrow-tfx download movielens` fetches a release)")
    return files


def ratings_files(input_base: str, found: List[str], config: SampleGenConfig) -> raw_rows.RatingsFiles:
    """The ratings files this run reads among those found: ratings.csv, or the spans (all, or the newest
    config.span_window)."""
    try:
        return raw_rows.ratings_files(input_base, found, config.span_window)
    except ValueError as error:
        raise ValueError(f"SampleGen: {error}") from None


def record_spans(examples: types.Artifact, ratings: raw_rows.RatingsFiles) -> None:
    """The spans read, on the Examples: TFX's `span` (the newest; ExampleGen's driver set 0) and every one."""
    examples.span = ratings.newest
    examples.set_int_custom_property(spec.SPAN_PROPERTY, ratings.newest)
    if ratings.spans:
        examples.set_string_custom_property(spec.SPANS_PROPERTY, raw_rows.span_ranges(ratings.spans))
        examples.set_int_custom_property(report.SPANS_PRESENT, ratings.present)
        if ratings.missing():
            examples.set_string_custom_property(report.SPANS_MISSING, raw_rows.span_ranges(ratings.missing()))
            logging.warning("SampleGen: ratings spans missing between those read: %s",
                            raw_rows.span_ranges(ratings.missing()))


class Executor(base_beam_executor.BaseBeamExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        config = SampleGenConfig(**{f.name: exec_properties[f.name] for f in dataclasses.fields(SampleGenConfig)})
        files = _raw_files(exec_properties)
        ratings = ratings_files(exec_properties[spec.INPUT_BASE_KEY], files[spec.RATINGS_FILE], config)
        examples = artifact_utils.get_single_instance(output_dict[spec.EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(list(spec.SPLITS))
        split_dirs = {split: artifact_utils.get_split_uri([examples], split) for split in spec.SPLITS}
        logging.info("SampleGen: ratings %s, movies %s -> %s with %s", ratings.describe(),
                     files[spec.MOVIES_FILE], examples.uri, config)
        result = beam_samples.run(self._make_beam_pipeline, list(ratings.paths), files[spec.MOVIES_FILE],
                                  config, split_dirs, examples.uri)
        record_spans(examples, ratings)

        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        for name, value in report.counts(result).items():
            examples.set_int_custom_property(name, value)
        examples.set_string_custom_property("features_mode", config.features_mode)
        examples.set_string_custom_property("split_mode", config.split_mode)
        if config.as_of:  # the run summary names it beside the ratings it left out
            examples.set_string_custom_property("as_of", config.as_of)
        logging.info("SampleGen report: %s", result)
        rejected_rows = os.path.join(examples.uri, spec.REJECTED_ROWS_DIR)
        problems = report.failures(result, config.max_rejected_rows, rejected_rows)
        if problems:
            kept = examples.uri.rstrip("/") + "-" + spec.REJECTED_ROWS_DIR
            if fileio.exists(rejected_rows):  # TFX deletes a failed execution's output artifact; not these rows
                fileio.rename(rejected_rows, kept, overwrite=True)
            raise ValueError("SampleGen: " + "\n".join(problems).replace(rejected_rows, kept))


def run_standalone(raw_dir: str, output_uri: str, config: SampleGenConfig = SampleGenConfig(),
                   beam_pipeline_args: Optional[List[str]] = None) -> standard_artifacts.Examples:
    """SampleGen outside a pipeline (benchmarks, tests): this executor writing an Examples artifact at output_uri."""
    examples = standard_artifacts.Examples()
    examples.uri = output_uri
    exec_properties = {
        spec.INPUT_BASE_KEY: raw_dir,
        spec.INPUT_CONFIG_KEY: proto_utils.proto_to_json(spec.raw_files_config()),
        **dataclasses.asdict(config),
    }
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=beam_pipeline_args)
    Executor(context).Do({}, {spec.EXAMPLES_KEY: [examples]}, exec_properties)
    return examples
