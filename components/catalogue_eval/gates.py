"""The catalogue gates: the candidate against popularity and against the version serving now, and which decided.

1. Popularity gate: recall@N over all eval users at least min_ratio x the most-rated list's.
2. Serving-version gate, when a version serves: recall@N over the same eval users and candidates at least
   (1 - max_regression) x the serving version's, ranked as it serves them (`recommender.model_ranker.as_served`).
Both must pass. When nothing serves yet and the popularity gate fails, the candidate is blessed with a first-run
fallback instead (`recommender.serving_policy`): the first run serves the best list measured on each path rather
than nothing. When a version serves, a candidate that fails either gate is refused: nothing worse replaces it.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from components.catalogue_eval import spec
from recommender import catalogue, serving_policy

Results = Dict[str, Dict[str, Dict[str, float]]]  # {ranker: {group: {metric: value}}}
LABELS = {spec.POPULARITY_GATE: "the popularity gate", spec.SERVING_GATE: "the serving-version gate",
          spec.FIRST_RUN_FALLBACK: "the popularity gate, with the first-run fallback"}


def _figure(results: Results, ranker: str, group: str, metric: str) -> float:
    return results.get(ranker, {}).get(group, {}).get(metric, 0.0)


def _over(results: Results, eval_users: Optional[int]) -> str:
    """Whom the figures are over: every eval user, or (eval_users more than were ranked) a seeded sample."""
    users = int(results[spec.OURS][catalogue.ALL_USERS]["users"])
    if eval_users is None or eval_users <= users:
        return f"over {users} eval users"
    return f"over a seeded sample of {users} of {eval_users} eval users"


def gate(results: Results, top_n: int, min_ratio: float, eval_users: Optional[int] = None) -> Tuple[bool, str]:
    """Whether ours passes the popularity gate, and the comparison in words (eval_users: how many there were, when
    a sample was ranked)."""
    metric = f"{spec.GATE_METRIC}@{top_n}"
    ours = _figure(results, spec.OURS, catalogue.ALL_USERS, metric)
    baseline = _figure(results, spec.GATE_BASELINE, catalogue.ALL_USERS, metric)
    if min_ratio <= 0:
        return True, f"off (--min-catalogue-ratio 0); {metric} ours {ours:.4f}, {spec.GATE_BASELINE} {baseline:.4f}"
    passed = ours >= min_ratio * baseline
    return passed, (f"{metric} {_over(results, eval_users)}: ours {ours:.4f} {'>=' if passed else '<'} "
                    f"{min_ratio:.2f} x "
                    f"{spec.GATE_BASELINE} {baseline:.4f}" + ("" if passed else " (change with --min-catalogue-ratio)"))


def serving_gate(results: Results, top_n: int, max_regression: float, version: str,
                 eval_users: Optional[int] = None) -> Tuple[bool, str]:
    """Whether ours is at most max_regression below the serving version (results[spec.SERVING]), and the
    comparison in words."""
    metric = f"{spec.GATE_METRIC}@{top_n}"
    ours = _figure(results, spec.OURS, catalogue.ALL_USERS, metric)
    serving = _figure(results, spec.SERVING, catalogue.ALL_USERS, metric)
    if max_regression >= 1:
        return True, (f"off (--max-catalogue-regression {max_regression:g}); {metric} ours {ours:.4f}, serving "
                      f"version {version} {serving:.4f}")
    passed = ours >= (1 - max_regression) * serving
    return passed, (f"{metric} {_over(results, eval_users)}: ours {ours:.4f} {'>=' if passed else '<'} "
                    f"(1 - {max_regression:.2f}) x serving version {version} {serving:.4f}"
                    + ("" if passed else " (change with --max-catalogue-regression)"))


@dataclasses.dataclass(frozen=True)
class Decision:
    blessed: bool
    decided_by: str  # one of spec.DECIDERS
    comparison: str  # the deciding gate's comparison in words
    popularity: Tuple[bool, str]
    serving: Optional[Tuple[bool, str]]  # None: no serving version to compare with
    policy: Optional[serving_policy.ServingPolicy] = None  # the first-run fallback

    @property
    def label(self) -> str:
        return LABELS[self.decided_by]


def first_run_policy(results: Results, top_n: int, reason: str, cold_start_default: str
                     ) -> serving_policy.ServingPolicy:
    """The fallback per path from the pass's figures: users with history (ours is the model there) and cold-start
    users, each popularity list measured on both."""
    metric = f"{spec.GATE_METRIC}@{top_n}"

    def figures(group: str, names) -> Dict[str, float]:
        return {name: results[ranker][group][metric] for name, ranker in names
                if metric in results.get(ranker, {}).get(group, {})}

    def users(group: str) -> int:
        return int(results[spec.OURS].get(group, {}).get("users", 0))
    lists = [(name, name) for name in spec.BASELINES]
    return serving_policy.choose(
        reason, metric, users(catalogue.WITH_HISTORY),
        figures(catalogue.WITH_HISTORY, [(serving_policy.MODEL, spec.OURS), *lists]),
        users(catalogue.COLD), figures(catalogue.COLD, lists), cold_start_default)


def decide(results: Results, top_n: int, min_ratio: float, max_regression: float, serving_version: Optional[str],
           nothing_serves: bool, cold_start_default: str, eval_users: Optional[int] = None) -> Decision:
    """Both gates (the serving-version gate where results hold spec.SERVING, the version serving_version), or on a
    first run (nothing_serves) the fallback in place of a failed popularity gate. eval_users: how many eval users
    there were, when results are over a sample of them."""
    popularity = gate(results, top_n, min_ratio, eval_users)
    serving = serving_gate(results, top_n, max_regression, serving_version or "?", eval_users) \
        if spec.SERVING in results else None
    if not popularity[0]:
        if not nothing_serves:
            return Decision(False, spec.POPULARITY_GATE, popularity[1], popularity, serving)
        policy = first_run_policy(results, top_n, popularity[1], cold_start_default)
        return Decision(True, spec.FIRST_RUN_FALLBACK,
                        f"{popularity[1]}; nothing serves yet, so it serves with a fallback: {policy.summary()}",
                        popularity, serving, policy)
    if serving is not None:
        return Decision(serving[0], spec.SERVING_GATE, serving[1], popularity, serving)
    return Decision(True, spec.POPULARITY_GATE, popularity[1], popularity, serving)


def interval_words(ranked: catalogue.Pass) -> str:
    """The gates' figure (recall@N over all users ranked) of ours, the gate's baseline and the serving version,
    and ours' ratio to each, with their bootstrap intervals, in words."""
    metric = spec.GATE_METRIC
    name = f"{metric}@{ranked.top_n}"
    if not ranked.ranked:
        return f"{name}: no eval users to draw an interval from"
    level = f"{catalogue.INTERVAL_LEVEL:.0%}"
    cells = []
    for ranker in (spec.OURS, spec.GATE_BASELINE, spec.SERVING):
        if ranker in ranked.per_user:
            low, high = ranked.interval(ranker, catalogue.ALL_USERS, metric)
            value = ranked.figures[ranker][catalogue.ALL_USERS][name]
            cells.append(f"{ranker} {value:.4f} ({level} interval {low:.4f}-{high:.4f})")
    for reference in (spec.GATE_BASELINE, spec.SERVING):
        if reference in ranked.per_user and ranked.figures[reference][catalogue.ALL_USERS][name] > 0:
            ratio, low, high = ranked.ratio(spec.OURS, reference, catalogue.ALL_USERS, metric)
            cells.append(f"ours / {reference} {ratio:.3f} ({level} interval {low:.3f}-{high:.3f})")
    users = (f"a seeded sample of {ranked.ranked} of {ranked.eval_users} eval users" if ranked.sampled
             else f"{ranked.ranked} eval users")
    return f"{name} over {users}, bootstrap over users: " + ", ".join(cells)
