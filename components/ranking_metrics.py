"""Recall@k per query for TFMA: of a user's liked items, the share the model ranks in its top k.

TFMA's own `Recall` with `top_k` treats a query as one multi-class example and fails on any query with fewer
than k items (most users have only a handful of eval ratings), so ranking recall needs its own combiner.
A query (one user's eval examples, grouped by the MetricsSpec's `query_key`) counts only if it has a positive
label; the metric is the mean over those queries (macro average, like TFMA's NDCG).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

QUERY_RECALL_NAME = "recall"


class QueryRecall(metric_types.Metric):
    """Recall@k of each query's positives, averaged over queries; one value per k (sub key `top_k`)."""

    def __init__(self, top_k_list: List[int], name: str = QUERY_RECALL_NAME):
        super().__init__(_query_recall, top_k_list=top_k_list, name=name)


def _query_recall(
    top_k_list: List[int],
    name: str = QUERY_RECALL_NAME,
    eval_config: Optional[config_pb2.EvalConfig] = None,
    model_names: Optional[List[str]] = None,
    output_names: Optional[List[str]] = None,
    example_weighted: bool = False,
    query_key: str = "",
) -> metric_types.MetricComputations:
    if not query_key:
        raise ValueError(f"{name}: QueryRecall is a ranking metric and needs a MetricsSpec with a query_key")
    if not top_k_list:
        raise ValueError(f"{name}: QueryRecall needs a non-empty top_k_list")
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            keys = [metric_types.MetricKey(name, model_name=model_name, output_name=output_name,
                                           sub_key=metric_types.SubKey(top_k=k), example_weighted=example_weighted)
                    for k in top_k_list]
            computations.append(metric_types.MetricComputation(
                keys=keys, preprocessors=None,
                combiner=_QueryRecallCombiner(keys, eval_config, model_name, output_name, example_weighted)))
    return computations


class _Accumulator:
    __slots__ = ["recall_sums", "weight"]

    def __init__(self, size: int):
        self.recall_sums = np.zeros(size)
        self.weight = 0.0


class _QueryRecallCombiner(beam.CombineFn):

    def __init__(self, keys: List[metric_types.MetricKey], eval_config: Optional[config_pb2.EvalConfig],
                 model_name: str, output_name: str, example_weighted: bool):
        self._keys = keys
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name
        self._example_weighted = example_weighted

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator(len(self._keys))

    def add_input(self, accumulator: _Accumulator, element: metric_types.StandardMetricInputs) -> _Accumulator:
        labels, predictions, weight = next(metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config, model_name=self._model_name, output_name=self._output_name,
            example_weighted=self._example_weighted, flatten=False, require_single_example_weight=True))
        positives = labels.reshape(-1) > 0
        if not positives.any():
            return accumulator
        ranked = positives[np.argsort(-predictions.reshape(-1), kind="stable")]
        weight = float(weight)
        for i, key in enumerate(self._keys):
            accumulator.recall_sums[i] += weight * ranked[:key.sub_key.top_k].sum() / positives.sum()
        accumulator.weight += weight
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Accumulator]) -> _Accumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.recall_sums += accumulator.recall_sums
            result.weight += accumulator.weight
        return result

    def extract_output(self, accumulator: _Accumulator) -> Dict[metric_types.MetricKey, float]:
        return {key: (accumulator.recall_sums[i] / accumulator.weight if accumulator.weight else float("nan"))
                for i, key in enumerate(self._keys)}
