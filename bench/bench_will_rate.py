"""The will-rate estimates on the future: at many rolling cuts, the estimate the back-test chooses over the history
before the cut (`recommender.will_rate`) beside each estimate alone and the four baselines, scored on what known
users liked in the next --horizon days. The evidence behind will_rate's default and its back-test; the model's
factor, P(like | rated), is left out (the replay, bench/bench_replay.py, scores the served list with it).

    python -m bench.bench_will_rate                      # ml-latest-small-2015 and `make run`'s generated data
    python -m bench.bench_will_rate --movielens DIR --start 2013-04-09 --every 45d --cuts 14 --horizon 180d

At each cut t: the back-test runs on the ratings before t, as FeatureSnapshot runs it on a training split; every
estimate is built as of t from those ratings (`will_rate.estimators_as_of`, what a snapshot at t serves); the users
are those with a rating before t who liked (rating >= 3.5) a movie in [t, t + horizon) they had not rated; each gets
each ranker's top 10 of the movies rated before t they had not rated (`recommender.future`, as the replay scores).
Pooled over the cuts' users: recall@10 and NDCG@10 of each, and each estimate / the best baseline with a paired
bootstrap 90% interval.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from bench import common
from recommender import future, will_rate

CHOSEN = "will_rate:chosen"
PREFIX = "will_rate:"  # an estimate's ranker name: item_knn is a baseline's name too
ESTIMATES = (CHOSEN, *(PREFIX + name for name in will_rate.ESTIMATES))
METRICS = ("recall@10", "ndcg@10")
DATA_SETS = {  # name: (start, every days, cuts, horizon days)
    "ml-latest-small-2015": ("2013-04-09", 45, 14, 180),
    "generated-24000": ("2012-01-01", 90, 10, 180),
}


def _estimate_ranker(history: will_rate.UserHistory, estimator: will_rate.Estimator) -> future.Ranker:
    def rank(user_id: int, candidates: np.ndarray) -> Optional[np.ndarray]:
        if user_id not in history.movies:
            return None  # a new user: the cold-start list's, not an estimate's
        return estimator.scores(history.movies[user_id], candidates, history.liked[user_id],
                                history.times[user_id])
    return rank


def measure(ratings: future.Ratings, start: str, every_days: int, cuts: int, horizon_days: int) -> dict:
    found: List[dict] = []
    parts = []
    for as_of, period in common.rolling_periods(ratings, start, every_days, cuts, horizon_days):
        h = period.history
        back_test = will_rate.back_test(h.rows())
        history = will_rate.UserHistory.of(h.users, h.movies, h.stars, h.times)
        _, estimators = will_rate.estimators_as_of(history, h.users, h.movies, h.times, period.as_of)
        rankers = {PREFIX + name: _estimate_ranker(history, estimator) for name, estimator in estimators.items()}
        figures = future.per_user(period, {CHOSEN: rankers[PREFIX + back_test.chosen], **rankers,
                                           **future.baselines(period)}, groups=(future.KNOWN,))
        parts.append(figures)
        means = figures[future.KNOWN].summary()
        found.append({"as_of": as_of, "choice": back_test.chosen, "challenger": back_test.challenger,
                      "winners": [w["winner"] for w in back_test.windows], "users": means["users"],
                      **{name: means[name] for name in (*ESTIMATES, *future.BASELINES)}})
    pooled = future.pool(parts)[future.KNOWN]
    summary: dict = {"users": len(pooled.users), "means": {}, "over_best": {}}
    for metric in METRICS:
        summary["means"][metric] = {name: float(np.mean(values[metric])) for name, values in pooled.figures.items()}
        best = max(future.BASELINES, key=lambda name: summary["means"][metric][name])
        summary["over_best"][metric] = {"best": best}
        for name in ESTIMATES:
            ratio, low, high = future.bootstrap_ratio(pooled.figures[name][metric], pooled.figures[best][metric])
            below = [cut["as_of"] for cut in found if cut["users"] and cut[name][metric] <
                     0.9 * max(cut[b][metric] for b in future.BASELINES)]
            summary["over_best"][metric][name] = {"ratio": ratio, "interval": [low, high], "cuts_below_0.9": below}
    return {"cuts": found, "pooled": summary}


def _print(name: str, result: dict) -> None:
    print(f"\n{name}: known users' top 10 at {len(result['cuts'])} cuts (recall@10)")
    columns = (*ESTIMATES, *future.BASELINES)
    print(f"{'as of':10}  users  choice        " + "  ".join(f"{n.replace(PREFIX, ''):>17}" for n in columns))
    for cut in result["cuts"]:
        if cut["users"]:
            print(f"{cut['as_of']:10}  {cut['users']:5}  {cut['choice']:12}  " + "  ".join(
                f"{cut[n]['recall@10']:17.4f}" for n in columns))
    pooled = result["pooled"]
    for metric in METRICS:
        means, versus = pooled["means"][metric], pooled["over_best"][metric]
        print(f"pooled {metric} over {pooled['users']} user-cuts: " +
              ", ".join(f"{n} {means[n]:.4f}" for n in columns))
        print(f"  / best baseline ({versus['best']}): " + ", ".join(
            f"{n} {versus[n]['ratio']:.2f}x [{versus[n]['interval'][0]:.2f}, {versus[n]['interval'][1]:.2f}] "
            f"({len(versus[n]['cuts_below_0.9'])} cuts below 0.9x)" for n in ESTIMATES))


def main(argv: Optional[List[str]] = None) -> int:
    return common.rolling_cut_cli("bench_will_rate", DATA_SETS, measure, _print, argv)


if __name__ == "__main__":
    raise SystemExit(main())
