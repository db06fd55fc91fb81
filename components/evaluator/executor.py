"""Evaluator executor: TFX's, minus a baseline that is the candidate itself.

With nothing serving yet, ServingBaseline hands the candidate over as the baseline (every orchestrator then sees
the same inputs). Evaluating it twice doubled the Evaluator's time for a comparison that is zero by
construction; without a baseline TFMA rubber-stamps the change threshold, which is what a first model needs.
"""
from typing import Any, Dict, List

from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import standard_component_specs

from components.serving_baseline import spec as baseline_spec

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


def without_candidate_baseline(input_dict: Dict[str, List[types.Artifact]]) -> Dict[str, List[types.Artifact]]:
    """input_dict without its baseline model when that baseline stands in for a missing serving model."""
    baselines = input_dict.get(BASELINE_KEY) or []
    if baselines and all(b.get_custom_property(baseline_spec.IS_CANDIDATE_PROPERTY) for b in baselines):
        return {key: value for key, value in input_dict.items() if key != BASELINE_KEY}
    return input_dict


class Executor(tfx_evaluator.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        super().Do(without_candidate_baseline(input_dict), output_dict, exec_properties)
