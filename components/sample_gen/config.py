"""SampleGen's options: one dataclass whose field names are the component's execution parameters."""
from __future__ import annotations

import dataclasses
import datetime
from typing import List

from dataio import raw_rows
from dataio.raw_rows import DEFAULT_EARLIEST_RATING_DATE, DEFAULT_LATEST_RATING_DAYS_AHEAD
from models import sample_features

# split_mode: samples are split by time, never by random rows.
SPLIT_GLOBAL_TIME = "global_time"  # eval: samples at or after the (1 - eval_fraction) quantile of rating times
SPLIT_USER_LAST = "user_last"  # eval: each user's last `eval_ratings_per_user` ratings
# features_mode
POINT_IN_TIME = "point_in_time"  # every feature from ratings strictly before the sample's time
LEAKY = "leaky"  # movie statistics over all ratings, later ones included (SparrowRecSys' Spark job)


@dataclasses.dataclass(frozen=True)
class SampleGenConfig:
    split_mode: str = SPLIT_GLOBAL_TIME
    eval_fraction: float = 0.2
    eval_ratings_per_user: int = 1
    min_user_history: int = 1  # samples need this many earlier ratings of their user (at most USER_WINDOW)
    features_mode: str = POINT_IN_TIME
    max_rejected_rows: int = 0  # more malformed input rows than this fail the run
    earliest_rating_date: str = DEFAULT_EARLIEST_RATING_DATE  # YYYY-MM-DD, UTC
    latest_rating_days_ahead: float = DEFAULT_LATEST_RATING_DAYS_AHEAD
    # The job's shuffles as this many sequential pipelines, each shuffling one hash shard (intermediates on
    # disk): memory of one shard on the direct runner, which holds a shuffle's input in memory. 1: one pipeline
    # (what Flink, Spark and Dataflow want: their shuffles spill to disk); 0: automatic, 1 on those and on the
    # direct runner one per ~100k ratings (shuffle_shards.RATINGS_BYTES_PER_SHARD of ratings files).
    shuffle_shards: int = 0
    # Train split only: per rating (user u, time t) this many draws of a movie released by t's year, uniformly;
    # each movie u had not rated up to t is a sampled negative (rated=0, label 0) with the features as of t,
    # which the model's "will rate" head learns from. Eval keeps the real ratings only. The draws are seeded by
    # (negatives_seed, u, the rated movie, t), so a run is reproducible and sharding does not change them.
    negatives_per_rating: int = 0
    negatives_seed: int = 0
    # > 0: a draw of a movie rated n times before t is kept with probability min(cap, n + 1) / cap (seeded as
    # the draws are), so negatives follow the movies' popularity as of t, as the real ratings do; the cap keeps
    # the most rated from crowding out the rest. The Trainer learns it and its served ranking undoes it
    # (`serving.RANK_SCORE_KEY`). 0: the uniform draws, all kept.
    negatives_popularity_cap: int = 0
    # The data as of this moment (YYYY-MM-DD[THH:MM[:SS]], UTC), as if it were now: ratings at or after it are
    # not read (counted apart), so the eval period is the latest part before it. "": every rating.
    as_of: str = ""
    # With span files (ratings-{SPAN}.csv under the data root): read only the newest this many spans present, a
    # rolling window; 0: every span. The window counts span files, as TFX's LatestSpan(n) counts spans.
    span_window: int = 0

    def __post_init__(self):
        problems = self._coerce_types() or self._range_problems()
        if problems:
            raise ValueError("SampleGen: " + "; ".join(problems))

    def _coerce_types(self) -> List[str]:
        """Each option as its default's type (e.g. 1 for a float, from a command line or ML Metadata)."""
        problems = []
        for field in dataclasses.fields(self):
            kind, value = type(field.default), getattr(self, field.name)
            try:
                object.__setattr__(self, field.name, kind(value))
            except (TypeError, ValueError):
                problems.append(f"{field.name} must be of type {kind.__name__}, not {value!r}")
        return problems

    def _range_problems(self) -> List[str]:
        problems = []
        if self.split_mode not in (SPLIT_GLOBAL_TIME, SPLIT_USER_LAST):
            problems.append(f"split_mode must be {SPLIT_GLOBAL_TIME!r} or {SPLIT_USER_LAST!r}, not "
                            f"{self.split_mode!r}")
        if not 0.0 < self.eval_fraction < 1.0:
            problems.append(f"eval_fraction must be in (0, 1), not {self.eval_fraction}")
        if self.eval_ratings_per_user < 1:
            problems.append(f"eval_ratings_per_user must be >= 1, not {self.eval_ratings_per_user}")
        if not 0 <= self.min_user_history <= sample_features.USER_WINDOW:
            problems.append(f"min_user_history must be in [0, {sample_features.USER_WINDOW}] (the user window), "
                            f"not {self.min_user_history}")
        if self.features_mode not in (POINT_IN_TIME, LEAKY):
            problems.append(f"features_mode must be {POINT_IN_TIME!r} or {LEAKY!r}, not {self.features_mode!r}")
        if self.max_rejected_rows < 0:
            problems.append(f"max_rejected_rows must be >= 0, not {self.max_rejected_rows}")
        try:
            datetime.datetime.strptime(self.earliest_rating_date, "%Y-%m-%d")
        except ValueError:
            problems.append(f"earliest_rating_date must be a date YYYY-MM-DD, not {self.earliest_rating_date!r}")
        if self.latest_rating_days_ahead < 0:
            problems.append(f"latest_rating_days_ahead must be >= 0, not {self.latest_rating_days_ahead}")
        if self.negatives_per_rating < 0:
            problems.append(f"negatives_per_rating must be >= 0 (0: no sampled negatives), not "
                            f"{self.negatives_per_rating}")
        if self.negatives_popularity_cap < 0:
            problems.append(f"negatives_popularity_cap must be >= 0 (0: uniform negatives), not "
                            f"{self.negatives_popularity_cap}")
        try:
            raw_rows.as_of_timestamp(self.as_of)
        except ValueError as error:
            problems.append(f"as_of: {error}")
        if self.span_window < 0:
            problems.append(f"span_window must be >= 0 (0: every span), not {self.span_window}")
        if self.shuffle_shards < 0:
            problems.append(f"shuffle_shards must be >= 0 (0: automatic), not {self.shuffle_shards}")
        return problems
