"""CatalogueEvaluator: the candidate's top-N over the whole catalogue beside the Evaluator, vs popularity baselines.

A component of its own rather than a TFMA metric: TFMA sees one example at a time (or a user's rated eval movies),
while this ranks every movie a user had not rated, with user and movie features as of the cutoff from the
training split, through the model's serving signature, which is what `recommend` would have served then.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec

from components import catalogue
from components.catalogue_eval import executor, spec


class CatalogueEvaluator(base_component.BaseComponent):
    SPEC_CLASS = spec.CatalogueEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel, top_n: int = catalogue.TOP_N,
                 min_liked: int = 1):
        super().__init__(spec.CatalogueEvaluatorSpec(
            examples=examples, model=model, top_n=top_n, min_liked=min_liked,
            catalogue_evaluation=types.Channel(type=spec.CatalogueEvaluation)))
