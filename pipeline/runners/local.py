"""Runs `create_pipeline` locally with TFX's BeamDagRunner (side branches beside it) and ML Metadata in SQLite."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
from typing import Callable, Optional

from tfx.orchestration import metadata as tfx_metadata

from compat import file_systems
from models import schema
from pipeline import configs
from pipeline import pipeline as pipeline_lib
from pipeline.cli.progress import Progress
from pipeline.report import metadata
from pipeline.runners import beam
from pipeline.runners.side_branch import SideBranchDagRunner
from recommender import serving_dir

# Beam's direct runner appends the node's step to the node's exception message.
_BEAM_STEP = re.compile(r"\s*\[while running 'Run\[[^\]]+\]'\]\s*$")


class ComponentFailed(RuntimeError):
    """A pipeline node raised; the message names the node and gives its own error, without Beam's wrapping.

    record: what ML Metadata holds of the failed run, None if it failed before any node was recorded.
    """

    def __init__(self, error: Exception, record: Optional[metadata.RunRecord]):
        failed = [node.node_id for node in record.nodes.values() if node.state == "FAILED"] if record else []
        self.node = failed[0] if failed else "the pipeline"
        self.record = record
        super().__init__(f"{self.node} failed: {_BEAM_STEP.sub('', str(error))}")


def _own_run(paths: configs.LocalPaths, run_id: Optional[str]) -> Optional[metadata.RunRecord]:
    """This run's record, never another's; None if it failed before anything was recorded."""
    if not run_id or not os.path.exists(paths.metadata_path):
        return None
    return metadata.run_by_id(paths.metadata_path, run_id)


def run(
    settings: configs.Settings,
    paths: configs.LocalPaths,
    progress: Optional[Callable[[int], Progress]] = None,
) -> metadata.RunRecord:
    """Runs the whole pipeline and returns what ML Metadata recorded of this run; ComponentFailed if a node failed.

    settings: its data_root is a local path or a URI; its beam_pipeline_args default to the direct runner's.
    progress: makes the run's Progress from the number of nodes (None: none shown).
    """
    file_systems.register_for(paths.pipeline_root, paths.serving_dir)
    data_root = settings.data_root if "://" in settings.data_root else os.path.abspath(settings.data_root)
    beam_pipeline_args = beam.direct_args() if settings.beam_pipeline_args is None else settings.beam_pipeline_args
    pipeline = pipeline_lib.create_pipeline(
        dataclasses.replace(settings, data_root=data_root, beam_pipeline_args=beam_pipeline_args),
        pipeline_root=paths.pipeline_root,
        schema_path=schema.SCHEMA_PATH,
        serving_dir=paths.serving_dir,
        code_version=configs.code_version(),
        metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(paths.metadata_path),
        serving_state=serving_dir.serving_state(paths.serving_dir))  # held still by the work dir's lock
    logging.info("Running %s on %s (work dir %s)", configs.PIPELINE_NAME, data_root, paths.work_dir)
    shown = progress(len(pipeline.components)) if progress else None
    runner = SideBranchDagRunner(pipeline_lib.SIDE_BRANCH_NODES, shown)
    try:
        with shown or contextlib.nullcontext():
            runner.run(pipeline)
    except Exception as error:  # a node's own exception, whatever its type
        raise ComponentFailed(error, _own_run(paths, runner.run_id)) from error
    return _own_run(paths, runner.run_id)
