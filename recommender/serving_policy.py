"""A version's serving policy: the list each path serves where it is not what the version serves by default.

The first run on real data must serve something (issue 35): when nothing serves yet and the candidate's top 10 over
the catalogue loses to popularity (the popularity gate would refuse it), the CatalogueEvaluator blesses it with a
fallback instead, chosen per path from its own evaluation, on the eval users of that path:
- users with ratings (the model path, `with_history`): the model's list, or the most-rated or recent-most-rated
  list where one of them found more of those users' later liked movies (recall@10) than the model did;
- users without ratings (the cold-start path): the list the snapshot's cold-start back-test chose, or the other
  popularity list where the evaluation found it better.
So each path serves the best list measured on it, and the whole is at least as good as either popularity list.

The policy is a small JSON file (POLICY_FILE) that the CatalogueEvaluator writes into its artifact and the
AtomicPusher publishes inside the version, committed with the model and its snapshot (it is in the version's
commit marker). `recommend` reads it at load and names a fallback path `fallback:<list>`; a version without the
file serves as before. The lists are the snapshot's cold-start scores (`snapshot.cold_start_scores`), as of the
snapshot's latest rating, as the cold-start path serves them.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, Mapping, Optional, Sequence

import tensorflow as tf

from recommender import cold_start

POLICY_FILE = "serving_policy.json"
FORMAT_VERSION = 1
MODEL = "model"  # a path serves the model's list
WITH_HISTORY = "with_history"  # users with ratings: the model path
COLD_START = "cold_start"  # users without ratings: the cold-start path
FALLBACK_PREFIX = "fallback:"  # + the list: the path name `recommend` reports for a fallback
LABELS = {WITH_HISTORY: "users with ratings", COLD_START: "users without ratings"}


class PolicyFormatError(ValueError):
    """A serving policy in a format this code does not read."""


@dataclasses.dataclass(frozen=True)
class PathChoice:
    """What one path serves, and the evaluation it was chosen by."""
    serves: str  # MODEL or a cold_start.RANKERS name
    default: str  # what the version serves on this path without a policy
    users: int  # the path's eval users the lists were measured on
    figures: Dict[str, float]  # each list's metric over those users

    @property
    def is_fallback(self) -> bool:
        return self.serves != self.default

    def comparison(self, metric: str) -> str:
        """e.g. "recall@10 over 29 eval users: most_rated 0.0500 vs recent_most_rated 0.0400, model 0.0300", the
        served list first."""
        others = ", ".join(f"{name} {value:.4f}" for name, value in sorted(
            self.figures.items(), key=lambda item: (-item[1], item[0])) if name != self.serves)
        if self.serves not in self.figures:
            return f"{metric}: not measured (no eval users on this path)"
        return f"{metric} over {self.users} eval users: {self.serves} {self.figures[self.serves]:.4f}" + \
            (f" vs {others}" if others else "")


@dataclasses.dataclass(frozen=True)
class ServingPolicy:
    reason: str  # why the version serves with a fallback: the popularity gate's comparison on the first run
    metric: str  # what the lists were compared on, e.g. recall@10
    with_history: PathChoice
    cold_start: PathChoice
    format_version: int = FORMAT_VERSION

    def path(self, known_user: bool) -> PathChoice:
        return self.with_history if known_user else self.cold_start

    def fallback_path(self, known_user: bool) -> Optional[str]:
        """The path name `recommend` reports where this policy replaces the version's default, else None."""
        choice = self.path(known_user)
        return FALLBACK_PREFIX + choice.serves if choice.is_fallback else None

    @property
    def expected(self) -> float:
        """The metric over every eval user when served so: the paths' figures weighted by their users."""
        users = self.with_history.users + self.cold_start.users
        return sum(choice.users * choice.figures.get(choice.serves, 0.0)
                   for choice in (self.with_history, self.cold_start)) / users if users else 0.0

    def summary(self) -> str:
        """The policy in words, one clause per path, and what it gives over all eval users."""
        def clause(key: str, choice: PathChoice) -> str:
            what = choice.serves if choice.is_fallback else f"{choice.serves}, as without the fallback"
            return f"{LABELS[key]} get {what} ({choice.comparison(self.metric)})"
        return (f"{clause(WITH_HISTORY, self.with_history)}; {clause(COLD_START, self.cold_start)}; "
                f"{self.metric} over all {self.with_history.users + self.cold_start.users} eval users "
                f"{self.expected:.4f}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> "ServingPolicy":
        if values.get("format_version") != FORMAT_VERSION:
            raise PolicyFormatError(f"serving policy has format_version {values.get('format_version')!r}; this code "
                                    f"reads {FORMAT_VERSION}")
        return cls(values["reason"], values["metric"], PathChoice(**values[WITH_HISTORY]),
                   PathChoice(**values[COLD_START]), values["format_version"])


def _pick(figures: Mapping[str, float], default: str, order: Sequence[str]) -> str:
    """The list with the highest figure; a tie keeps the default, then the earlier of order."""
    if default not in figures:
        return default
    options = [default, *(name for name in order if name != default and name in figures)]
    return max(options, key=lambda name: (figures[name], -options.index(name)))


def choose(reason: str, metric: str, with_history_users: int, with_history_figures: Mapping[str, float],
           cold_users: int, cold_figures: Mapping[str, float], cold_start_default: str) -> ServingPolicy:
    """Per path, the best measured list. with_history_figures: MODEL's and each cold_start.RANKERS list's metric
    over the eval users with training ratings; cold_figures: each list's over the eval users without (a path
    without eval users keeps its default)."""
    with_history = {name: float(with_history_figures[name]) for name in (MODEL, *cold_start.RANKERS)
                    if with_history_users and name in with_history_figures}
    cold = {name: float(cold_figures[name]) for name in (cold_start_default, *cold_start.RANKERS)
            if cold_users and name in cold_figures}
    return ServingPolicy(
        reason, metric,
        PathChoice(_pick(with_history, MODEL, cold_start.RANKERS), MODEL, with_history_users, with_history),
        PathChoice(_pick(cold, cold_start_default, cold_start.RANKERS), cold_start_default, cold_users, cold))


def path_of(directory: str) -> str:
    return os.path.join(directory, POLICY_FILE)


def write(policy: ServingPolicy, directory: str) -> str:
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(path_of(directory), "w") as f:
        f.write(json.dumps(policy.to_dict(), indent=1, sort_keys=True))
    return path_of(directory)


def load(directory: str) -> Optional[ServingPolicy]:
    """The policy in directory (a version, or a CatalogueEvaluation artifact); None without one. Raises
    PolicyFormatError for a policy this code does not read."""
    if not tf.io.gfile.exists(path_of(directory)):
        return None
    with tf.io.gfile.GFile(path_of(directory)) as f:
        return ServingPolicy.from_dict(json.load(f))
