"""TFX's Evaluator (same spec, inputs and outputs) with this project's executor: the models scored once per record
batch ahead of TFMA, plots on the overall slice only, and no second evaluation of the candidate as its own
baseline on a first run (executor.py).

The class keeps the name `Evaluator`, so its node id, summaries and dashboards stay TFX's.
"""
from tfx.components import Evaluator as TfxEvaluator
from tfx.dsl.components.base import executor_spec

from components.evaluator import executor


class Evaluator(TfxEvaluator):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
