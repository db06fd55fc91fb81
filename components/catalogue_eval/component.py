"""CatalogueEvaluator: the candidate's top-N over the whole catalogue beside the Evaluator, vs popularity baselines.

A component of its own rather than a TFMA metric: TFMA sees one example at a time (or a user's rated eval movies),
while this ranks every movie a user had not rated, with user and movie features as of the cutoff from the
training split, through the model's serving signature, which is what `recommend` would have served then. The
version serving now is ranked the same way, as it serves, for the serving-version gate (gates.py).
"""
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec

from components.catalogue_eval import executor, spec
from recommender import catalogue


class CatalogueEvaluator(base_component.BaseComponent):
    SPEC_CLASS = spec.CatalogueEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel, feature_snapshot: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel] = None, top_n: int = catalogue.TOP_N,
                 min_liked: int = 1, min_ratio_to_popularity: float = 0.0, max_regression_to_serving: float = 1.0,
                 max_eval_users: int = 0):
        """feature_snapshot: the run's, whose cold-start and will-rate back-tests (over the same training split)
        the pass serves, as `recommend` does. min_ratio_to_popularity: the candidate is blessed only if its
        recall@top_n over all eval users is at least this times the most-rated list's (0: no popularity gate).
        baseline_model: ServingBaseline's output; when a version serves, the candidate is blessed only if its
        recall@top_n is at least (1 - max_regression_to_serving) times that version's, ranked as it serves them
        (1: no serving-version gate); when nothing serves and the popularity gate fails, it is blessed with a
        first-run fallback (the serving policy in its output, recommender/serving_policy.py). max_eval_users: with
        more eval users than this, a seeded sample of this many is ranked (0: every one); every figure and ratio
        has a bootstrap interval beside it."""
        super().__init__(spec.CatalogueEvaluatorSpec(
            examples=examples, model=model, feature_snapshot=feature_snapshot, baseline_model=baseline_model,
            top_n=top_n, min_liked=min_liked, min_ratio_to_popularity=min_ratio_to_popularity,
            max_regression_to_serving=max_regression_to_serving, max_eval_users=max_eval_users,
            catalogue_evaluation=types.Channel(type=spec.CatalogueEvaluation)))
