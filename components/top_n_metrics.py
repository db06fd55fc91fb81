"""One user's top-N list against the movies they later liked: the figures every top-N comparison reports."""
from __future__ import annotations

import math
from typing import Dict, Sequence

TOP_N = 10


def user_metrics(top: Sequence[int], targets: set) -> Dict[str, float]:
    """hit (any target in the list), recall (the share of the targets in it) and NDCG (binary gains)."""
    hits = [1.0 if m in targets else 0.0 for m in top]
    dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(top), len(targets))))
    return {"hit": float(any(hits)), "recall": sum(hits) / len(targets), "ndcg": dcg / ideal}
