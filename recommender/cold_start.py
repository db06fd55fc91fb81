"""Cold start: the list a user without ratings is recommended, chosen from the data by a back-test.

A cold-start ranker scores every movie from the times of its ratings before a moment `now`:
- popular_now: its ratings, each weighing half as much every HALF_LIFE_DAYS of age (the default);
- most_rated: its number of ratings;
- recent_most_rated: its number of ratings in the last RECENT_DAYS before now.
Which one predicts what people like next depends on the data (how fast what is popular changes). popular_now sits
between the other two and was the best or within 1% of the best new-user list over rolling cuts of
ml-latest-small-2015 and the generated data (docs/experiments.md), so it is the default; the back-test moves off it
only on evidence. It holds out BACK_TEST_WINDOWS consecutive windows of RECENT_DAYS at the end of a history (the
pipeline's training split: nothing after its cutoff is read) and, in each, ranks every movie of the history by each
ranker as of the window's start. Its users are every user who liked, in the window, a movie they had not rated
before it; each gets the ranker's top N of the movies they had not rated, as the catalogue evaluation ranks them.
A window's winner is the ranker whose lists hold the larger share of those liked movies (recall@N, then hit@N,
then NDCG@N; a tie goes to the earlier of RANKERS). Another ranker than the default is chosen only when it wins
more than half of the windows with users in them: one window is one draw of a noisy future. The chosen ranker is
served with its scores as of the serving snapshot's latest rating. Users whose first rating falls in a window,
cold there as a new user is now, are too few on their own (a dozen on ml-latest-small), so their figures are
reported beside the choice, not used for it.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from models import sample_features
from recommender import top_n_metrics

DAY = 86_400
RECENT_DAYS = 90
HALF_LIFE_DAYS = 365
BACK_TEST_WINDOWS = 4
POPULAR_NOW = "popular_now"
MOST_RATED = "most_rated"
RECENT_MOST_RATED = "recent_most_rated"
RANKERS = (POPULAR_NOW, MOST_RATED, RECENT_MOST_RATED)  # the default first: it wins ties
DESCRIPTIONS = {POPULAR_NOW: f"the movies rated most, each rating halved per {HALF_LIFE_DAYS} days of its age,",
                MOST_RATED: "the most-rated movies",
                RECENT_MOST_RATED: f"the movies rated most in the last {RECENT_DAYS} days"}


def scores(movie_positions: np.ndarray, times: np.ndarray, now: int, movies: int) -> Dict[str, np.ndarray]:
    """Each ranker's score of movies 0..movies-1 from ratings (the rated movie's position, its time) before now."""
    age_days = (now - times.astype(np.float64)) / DAY
    weights = {POPULAR_NOW: np.exp2(-age_days / HALF_LIFE_DAYS), MOST_RATED: None,
               RECENT_MOST_RATED: (times >= now - RECENT_DAYS * DAY).astype(np.float64)}
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
    users: int  # user-windows: a user who liked, in a window, a movie they had not rated before it
    new_users: int  # of them, users with no rating before the window
    window_start: Optional[int]  # the held-out windows of the history, together: [start, end]
    window_end: Optional[int]
    figures: Dict[str, Dict[str, float]]  # ranker -> metric@N -> mean over the user-windows
    new_user_figures: Dict[str, Dict[str, float]]  # the same over the new users
    top_n: int = top_n_metrics.TOP_N
    # Each window with users, the latest first: {"start", "end", "users", "winner"}.
    windows: List[Dict[str, object]] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """The choice and its evidence in words."""
        if not self.users:
            return (f"{self.chosen}: nobody liked a new movie in the training history's last "
                    f"{BACK_TEST_WINDOWS} x {RECENT_DAYS} days to back-test on, so the default list")

        def figures(values: Mapping[str, Mapping[str, float]]) -> str:
            return " vs ".join(f"{name} {values[name][f'recall@{self.top_n}']:.4f}"
                               f"/{values[name][f'hit@{self.top_n}']:.3f}"
                               for name in (self.chosen, *(r for r in RANKERS if r != self.chosen)) if name in values)
        winners = ", ".join(str(window["winner"]) for window in self.windows)
        return (f"{self.chosen}, by a back-test on {len(self.windows)} windows of {RECENT_DAYS} days at the end of "
                f"the training history (winners, latest first: {winners}): recall@{self.top_n}/hit@{self.top_n} "
                f"over their {self.users} user-windows {figures(self.figures)}; over the {self.new_users} new there "
                f"{figures(self.new_user_figures) or '-'}")


def _window_figures(users: np.ndarray, movies: np.ndarray, stars: np.ndarray, times: np.ndarray, start: int,
                    end: int, n: int) -> Tuple[Dict[str, list], Dict[str, list]]:
    """Each ranker's per-user figures over the users who liked, in [start, end), a movie they had not rated before
    start, ranked as of start: (users with ratings before, new users)."""
    before = times < start
    liked_in_window = ~before & (times < end) & sample_features.is_positive(stars)
    rated_before: Dict[int, set] = {}
    candidates_of = before & np.isin(users, users[liked_in_window])
    for user, movie in zip(users[candidates_of].tolist(), movies[candidates_of].tolist()):
        rated_before.setdefault(user, set()).add(movie)
    targets: Dict[int, set] = {}
    for user, movie in zip(users[liked_in_window].tolist(), movies[liked_in_window].tolist()):
        if movie not in rated_before.get(user, ()):
            targets.setdefault(user, set()).add(movie)
    movie_ids, positions = np.unique(movies[times < end], return_inverse=True)
    in_history = times < end
    ranked = scores(positions[before[in_history]], times[before], start, len(movie_ids))
    known: Dict[str, list] = {name: [] for name in RANKERS}
    new: Dict[str, list] = {name: [] for name in RANKERS}
    for name in RANKERS:
        order = movie_ids[np.lexsort((movie_ids, -ranked[name]))].tolist()  # ties by movieId, as served
        for user in sorted(targets):
            seen = rated_before.get(user, set())
            top = [m for m in order[:n + len(seen)] if m not in seen][:n]
            (known if seen else new)[name].append(top_n_metrics.user_metrics(top, targets[user]))
    return known, new


def back_test(ratings: Iterable[sample_features.Rating], n: int = top_n_metrics.TOP_N,
              windows: int = BACK_TEST_WINDOWS) -> BackTest:
    """The ranker that best predicts, from the ratings before each of a history's last `windows` windows of
    RECENT_DAYS, the movies liked in it (see the module's docstring)."""
    rows = np.array([r.astuple() for r in ratings], np.float64).reshape(-1, 4)
    default = RANKERS[0]
    if not len(rows):
        return BackTest(default, 0, 0, None, None, {}, {}, n)
    users, movies, times = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 3].astype(np.int64)
    end = int(times.max()) + 1  # the history's last rating is in the latest window
    known: Dict[str, list] = {name: [] for name in RANKERS}
    new: Dict[str, list] = {name: [] for name in RANKERS}
    found: List[Dict[str, object]] = []
    for window in range(windows):
        window_end = end - window * RECENT_DAYS * DAY
        window_start = window_end - RECENT_DAYS * DAY
        window_known, window_new = _window_figures(users, movies, rows[:, 2], times, window_start, window_end, n)
        together = {name: window_known[name] + window_new[name] for name in RANKERS}
        if not together[default]:
            continue
        winner = top_n_metrics.best(RANKERS, {name: top_n_metrics.means(together[name], n) for name in RANKERS}, n)
        found.append({"start": window_start, "end": window_end, "users": len(together[default]), "winner": winner})
        for name in RANKERS:
            known[name] += window_known[name]
            new[name] += window_new[name]
    if not found:
        return BackTest(default, 0, 0, end - windows * RECENT_DAYS * DAY, end, {}, {}, n)
    wins = {name: sum(1 for window in found if window["winner"] == name) for name in RANKERS}
    leader = max(RANKERS, key=lambda name: (wins[name], -RANKERS.index(name)))
    chosen = leader if 2 * wins[leader] > len(found) else default
    figures = {name: top_n_metrics.means(known[name] + new[name], n) for name in RANKERS}
    new_user_figures = {name: top_n_metrics.means(new[name], n) for name in RANKERS if new[name]}
    return BackTest(chosen, len(known[default]) + len(new[default]), len(new[default]), int(found[-1]["start"]),
                    end, figures, new_user_figures, n, found)
