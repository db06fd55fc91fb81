"""One user's top-N list against the movies they later liked: the figures every top-N comparison reports."""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Mapping, Sequence

import numpy as np

TOP_N = 10


def user_metrics(top: Sequence[int], targets: set) -> Dict[str, float]:
    """hit (any target in the list), recall (the share of the targets in it) and NDCG (binary gains)."""
    hits = [1.0 if m in targets else 0.0 for m in top]
    dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(top), len(targets))))
    return {"hit": float(any(hits)), "recall": sum(hits) / len(targets), "ndcg": dcg / ideal}


METRICS = ("hit", "recall", "ndcg")
CHOICE_METRICS = ("recall", "hit", "ndcg")  # a back-test compares these in this order


def means(per_user: List[Dict[str, float]], n: int = TOP_N) -> Dict[str, float]:
    """Each metric@n's mean over the users' figures."""
    return {f"{metric}@{n}": float(np.mean([u[metric] for u in per_user])) for metric in METRICS}


def best(names: Sequence[str], figures: Mapping[str, Mapping[str, float]], n: int = TOP_N) -> str:
    """The name with the best figures (CHOICE_METRICS in order); a tie goes to the earlier, simpler one."""
    return max(names, key=lambda name: (tuple(figures[name][f"{m}@{n}"] for m in CHOICE_METRICS),
                                        -list(names).index(name)))


class BackTestRecord:
    """A back-test dataclass's round trip through a manifest or a results file."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping):
        return cls(**values)
