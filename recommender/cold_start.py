"""Cold start: the list a user without ratings is recommended, chosen from the data by a back-test.

A cold-start ranker scores every movie from the times of its ratings before a moment `now`:
- most_rated: its number of ratings;
- recent_most_rated: its number of ratings in the last RECENT_DAYS before now.
Which one predicts what people like next depends on the data (how fast what is popular changes), so it is not
fixed. The back-test holds out the last RECENT_DAYS of a history (the pipeline's training split: nothing after its
cutoff is read) and ranks every movie of the history by each ranker as of the window's start. Its users are every
user who liked, in the window, a movie they had not rated before it; each gets the ranker's top N of the movies
they had not rated, as the catalogue evaluation ranks them. The ranker whose lists hold the larger share of those
liked movies is chosen (recall@N, then hit@N, then NDCG@N; a tie goes to the earlier of RANKERS) and served with
its scores as of the serving snapshot's latest rating. Users whose first rating falls in the window, cold there
as a new user is now, are too few on their own (a dozen on ml-latest-small), so their figures are reported
beside the choice, not used for it.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Mapping, Optional, Sequence

import numpy as np

from models import sample_features
from recommender import top_n_metrics

DAY = 86_400
RECENT_DAYS = 90
MOST_RATED = "most_rated"
RECENT_MOST_RATED = "recent_most_rated"
RANKERS = (MOST_RATED, RECENT_MOST_RATED)  # the simpler first: it wins ties
DESCRIPTIONS = {MOST_RATED: "the most-rated movies",
                RECENT_MOST_RATED: f"the movies rated most in the last {RECENT_DAYS} days"}


def scores(movie_positions: np.ndarray, times: np.ndarray, now: int, movies: int) -> Dict[str, np.ndarray]:
    """Each ranker's score of movies 0..movies-1 from ratings (the rated movie's position, its time) before now."""
    weights = {MOST_RATED: None, RECENT_MOST_RATED: (times >= now - RECENT_DAYS * DAY).astype(np.float64)}
    return {name: np.bincount(movie_positions, weight, minlength=movies).astype(np.float64)
            for name, weight in weights.items()}


def movie_scores(times: Sequence[int], now: Optional[int]) -> Dict[str, float]:
    """One movie's score by each ranker from its rating times: a feature snapshot entry's field."""
    if now is None or not len(times):
        return {name: 0.0 for name in RANKERS}
    values = scores(np.zeros(len(times), np.int64), np.asarray(times, np.int64), now, 1)
    return {name: float(value[0]) for name, value in values.items()}


@dataclasses.dataclass
class BackTest(top_n_metrics.BackTestRecord):
    chosen: str
    users: int  # users who liked a movie in the window they had not rated before it
    new_users: int  # of them, users with no rating before the window
    window_start: Optional[int]  # the held-out window of the history: [start, end]
    window_end: Optional[int]
    figures: Dict[str, Dict[str, float]]  # ranker -> metric@N -> mean over the users
    new_user_figures: Dict[str, Dict[str, float]]  # the same over the new users
    top_n: int = top_n_metrics.TOP_N

    def summary(self) -> str:
        """The choice and its evidence in words."""
        if not self.users:
            return (f"{self.chosen}: nobody liked a new movie in the training history's last {RECENT_DAYS} days "
                    f"to back-test on, so the simplest list")

        def figures(values: Mapping[str, Mapping[str, float]]) -> str:
            return " vs ".join(f"{name} {values[name][f'recall@{self.top_n}']:.4f}"
                               f"/{values[name][f'hit@{self.top_n}']:.3f}"
                               for name in (self.chosen, *(r for r in RANKERS if r != self.chosen)) if name in values)
        return (f"{self.chosen}, by a back-test on the training history's last {RECENT_DAYS} days: "
                f"recall@{self.top_n}/hit@{self.top_n} over its {self.users} users {figures(self.figures)}; "
                f"over the {self.new_users} new there {figures(self.new_user_figures) or '-'}")


def back_test(ratings: Iterable[sample_features.Rating], n: int = top_n_metrics.TOP_N) -> BackTest:
    """The ranker that best predicts, from the ratings before a history's last RECENT_DAYS, the movies liked in
    those days (see the module's docstring)."""
    rows = np.array([r.astuple() for r in ratings], np.float64).reshape(-1, 4)
    if not len(rows):
        return BackTest(MOST_RATED, 0, 0, None, None, {}, {}, n)
    users, movies, times = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 3].astype(np.int64)
    end = int(times.max())
    start = end - RECENT_DAYS * DAY
    before = times < start
    liked_in_window = ~before & sample_features.is_positive(rows[:, 2])
    rated_before: Dict[int, set] = {}
    candidates_of = before & np.isin(users, users[liked_in_window])
    for user, movie in zip(users[candidates_of].tolist(), movies[candidates_of].tolist()):
        rated_before.setdefault(user, set()).add(movie)
    targets: Dict[int, set] = {}
    for user, movie in zip(users[liked_in_window].tolist(), movies[liked_in_window].tolist()):
        if movie not in rated_before.get(user, ()):
            targets.setdefault(user, set()).add(movie)
    movie_ids, positions = np.unique(movies, return_inverse=True)
    ranked = scores(positions[before], times[before], start, len(movie_ids))
    figures, new_user_figures = {}, {}
    for name in RANKERS:
        order = movie_ids[np.lexsort((movie_ids, -ranked[name]))].tolist()  # ties by movieId, as served
        per_user, per_new_user = [], []
        for user in sorted(targets):
            seen = rated_before.get(user, set())
            top = [m for m in order[:n + len(seen)] if m not in seen][:n]
            (per_user if seen else per_new_user).append(top_n_metrics.user_metrics(top, targets[user]))
        per_user += per_new_user
        if per_user:
            figures[name] = top_n_metrics.means(per_user, n)
        if per_new_user:
            new_user_figures[name] = top_n_metrics.means(per_new_user, n)
    new_users = sum(1 for user in targets if user not in rated_before)
    if not targets:
        return BackTest(MOST_RATED, 0, 0, start, end, {}, {}, n)
    chosen = top_n_metrics.best(RANKERS, figures, n)
    return BackTest(chosen, len(targets), new_users, start, end, figures, new_user_figures, n)
