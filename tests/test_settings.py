"""One settings object: `create_pipeline`, both runners and the CLI share configs.Settings and its defaults."""
from __future__ import annotations

import dataclasses

import pytest

from components.sample_gen.config import SampleGenConfig
from pipeline import configs
from pipeline.cli import main
from pipeline.cli.commands import arguments

GATES = ("min_auc", "max_auc_regression", "min_catalogue_ratio", "max_catalogue_regression", "train_steps")


def parsed(*argv: str):
    return main.build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", ["run", "compile"])
def test_the_flags_default_to_the_settings_defaults(command):
    args = parsed(command)
    settings = arguments.settings(args, "data", SampleGenConfig())
    assert settings == configs.Settings(data_root="data")
    assert {name: getattr(args, name) for name in GATES} == \
        {name: getattr(configs.Settings(), name) for name in GATES}


def test_flags_reach_the_settings():
    args = parsed("run", "--min-auc", "0.6", "--min-catalogue-ratio", "0", "--max-catalogue-regression", "0.25",
                  "--hparam", "batch_size=64", "--train-steps", "7", "--no-cache", "--allow-anomalies",
                  "--stop-on-drift")
    settings = arguments.settings(args, "data", None, ["--direct_num_workers=1"])
    assert settings == configs.Settings(data_root="data", sample_gen=None, min_auc=0.6, min_catalogue_ratio=0.0,
                                        max_catalogue_regression=0.25,
                                        hparams={"batch_size": 64}, train_steps=7, enable_cache=False,
                                        allow_anomalies=True, stop_on_drift=True,
                                        beam_pipeline_args=("--direct_num_workers=1",))


def test_settings_are_frozen_and_hold_copies():
    hparams = {"batch_size": 64}
    settings = configs.Settings(hparams=hparams)
    hparams["batch_size"] = 1
    assert settings.hparams == {"batch_size": 64}
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.min_auc = 0.5  # type: ignore[misc]


@pytest.mark.slow  # imports TFX
@pytest.mark.parametrize("ratio", [None, 0.25])
def test_local_and_kubeflow_pipelines_gate_with_the_same_settings(ratio):
    from components.catalogue_eval import spec as catalogue_spec
    from pipeline import pipeline as pipeline_lib
    from pipeline.runners import kubeflow

    settings = configs.Settings() if ratio is None else configs.Settings(min_catalogue_ratio=ratio,
                                                                         max_catalogue_regression=0.3)
    local = pipeline_lib.create_pipeline(settings, pipeline_root="/tmp/unused", schema_path="/tmp/unused.pbtxt",
                                         serving_dir="/tmp/unused/serving")
    compiled = kubeflow.build_pipeline(kubeflow.CompileSettings(image="unused", settings=settings,
                                                                pipeline_root="/tmp/unused"))

    def catalogue_gates(pipeline):
        [node] = [c for c in pipeline.components if c.id == "CatalogueEvaluator"]
        return tuple(node.exec_properties[key] for key in (catalogue_spec.MIN_RATIO_KEY,
                                                           catalogue_spec.MAX_REGRESSION_KEY))

    expected = configs.Settings().min_catalogue_ratio if ratio is None else ratio
    assert catalogue_gates(local) == catalogue_gates(compiled) == (expected, settings.max_catalogue_regression)
