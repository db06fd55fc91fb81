"""ServingBaseline: the model now in serving, as the Evaluator's baseline, with no Resolver node.

Open-source Kubeflow runs only container and importer executors, so the baseline cannot come from a Resolver.
This component reads the serving directory instead; on the first run (nothing served yet) the candidate stands
in as its own baseline, so the comparison passes and the absolute threshold alone decides.

Its result depends on the serving directory, not only on its inputs: a caching runner passes serving_state (what
serves now) so that a push by another run misses the cache; a runner that cannot (a compiled spec) must disable
caching for this node.
"""
from typing import Union

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts

from components.serving_baseline import executor, spec


class ServingBaseline(base_component.BaseComponent):
    SPEC_CLASS = spec.ServingBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel,
                 serving_dir: Union[str, data_types.RuntimeParameter], serving_state: str = ""):
        super().__init__(spec.ServingBaselineSpec(
            model=model, serving_dir=serving_dir, serving_state=serving_state,
            baseline_model=types.Channel(type=standard_artifacts.Model)))
