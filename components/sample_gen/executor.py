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


def _raw_files(exec_properties: Dict[str, Any]) -> Dict[str, List[str]]:
    """Input.Split name (ratings, movies) -> the files its pattern matches under input_base."""
    input_config = proto_utils.json_to_proto(exec_properties[spec.INPUT_CONFIG_KEY], example_gen_pb2.Input())
    files = {}
    for split in input_config.splits:
        pattern = os.path.join(exec_properties[spec.INPUT_BASE_KEY], split.pattern)
        files[split.name] = sorted(fileio.glob(pattern))
        if not files[split.name]:
            raise FileNotFoundError(f"SampleGen: no {split.name} file matches {pattern}: the raw input directory "
                                    f"needs MovieLens' {spec.RATINGS_PATTERN} and {spec.MOVIES_PATTERN} "
                                    "(`sparrow-tfx download movielens` fetches a release)")
    return files


class Executor(base_beam_executor.BaseBeamExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        config = SampleGenConfig(**{f.name: exec_properties[f.name] for f in dataclasses.fields(SampleGenConfig)})
        files = _raw_files(exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[spec.EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(list(spec.SPLITS))
        split_dirs = {split: artifact_utils.get_split_uri([examples], split) for split in spec.SPLITS}
        logging.info("SampleGen: %s -> %s with %s", files, examples.uri, config)
        result = beam_samples.run(self._make_beam_pipeline, files[spec.RATINGS_FILE], files[spec.MOVIES_FILE],
                                  config, split_dirs, examples.uri)

        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        for name, value in report.counts(result).items():
            examples.set_int_custom_property(name, value)
        examples.set_string_custom_property("features_mode", config.features_mode)
        examples.set_string_custom_property("split_mode", config.split_mode)
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
