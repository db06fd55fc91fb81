"""Runs `create_pipeline` locally with TFX's BeamDagRunner and ML Metadata in SQLite."""
from __future__ import annotations

import logging
import os
from typing import List, Optional

from tfx import v1 as tfx
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

from components.sample_gen.config import SampleGenConfig
from pipeline import beam_runners, configs, metadata
from pipeline import pipeline as pipeline_lib


def run(
    data_root: str,
    paths: configs.LocalPaths,
    min_auc: float = configs.DEFAULT_MIN_AUC,
    max_auc_regression: float = configs.DEFAULT_MAX_AUC_REGRESSION,
    train_steps: int = 0,
    hparams: Optional[dict] = None,
    beam_pipeline_args: Optional[List[str]] = None,
    enable_cache: bool = True,
    sample_gen: Optional[SampleGenConfig] = None,
) -> metadata.RunRecord:
    """Runs the whole pipeline and returns what ML Metadata recorded of this run."""
    pipeline = pipeline_lib.create_pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=paths.pipeline_root,
        data_root=os.path.abspath(data_root),
        schema_path=configs.SCHEMA_PATH,
        serving_dir=paths.serving_dir,
        min_auc=min_auc,
        max_auc_regression=max_auc_regression,
        train_steps=train_steps,
        hparams=hparams,
        code_version=configs.code_version(),
        beam_pipeline_args=beam_pipeline_args if beam_pipeline_args is not None else beam_runners.direct_args(),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            paths.metadata_path),
        enable_cache=enable_cache,
        sample_gen=sample_gen)
    logging.info("Running %s on %s (work dir %s)", configs.PIPELINE_NAME, data_root, paths.work_dir)
    BeamDagRunner().run(pipeline)
    return metadata.latest_run(paths.metadata_path, configs.PIPELINE_NAME)
