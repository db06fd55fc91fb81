"""The cold-start list on the future: at many rolling cuts, what users without ratings are served (the back-test's
choice over the history before the cut, `recommender.cold_start`) beside each cold-start ranker, scored on what new
users liked in the next --horizon days. The evidence behind cold_start's default and its back-test.

    python -m bench.bench_cold_start                      # ml-latest-small-2015 and `make run`'s generated data
    python -m bench.bench_cold_start --movielens DIR --start 2013-04-09 --every 45d --cuts 16 --horizon 90d

At each cut t: the back-test runs on the ratings before t, as FeatureSnapshot runs it on a training split; every
ranker scores every movie rated before t as of t (`cold_start.scores`, what the snapshot serves); the users are
those with no rating before t who liked (rating >= 3.5) a movie in [t, t + horizon); each gets each ranker's top 10
(`recommender.future`, as the replay scores). Pooled over the cuts' users: recall@10 and NDCG@10 of each, and served
/ the better of most-rated and recent most-rated with a paired bootstrap 90% interval, and the cuts where served is
below 0.9x that.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from bench import common
from recommender import cold_start, future

SERVED = "served"
REFERENCES = (cold_start.MOST_RATED, cold_start.RECENT_MOST_RATED)
METRICS = ("recall@10", "ndcg@10")
DATA_SETS = {  # name: (start, every days, cuts, horizon days)
    "ml-latest-small-2015": ("2013-04-09", 45, 16, 90),
    "generated-24000": ("2012-01-01", 90, 12, 90),
}


def _rankers(period: future.FuturePeriod, chosen: str) -> Dict[str, future.Ranker]:
    rankers = future.cold_start_lists(period)
    return {SERVED: rankers[chosen], **rankers}


def measure(ratings: future.Ratings, start: str, every_days: int, cuts: int, horizon_days: int) -> dict:
    found: List[dict] = []
    parts = []
    for as_of, period in common.rolling_periods(ratings, start, every_days, cuts, horizon_days):
        back_test = cold_start.back_test(period.history.rows())
        figures = future.per_user(period, _rankers(period, back_test.chosen), groups=(future.NEW,))
        parts.append(figures)
        means = figures[future.NEW].summary()
        found.append({"as_of": as_of,
                      "chosen": back_test.chosen, "winners": [w["winner"] for w in back_test.windows],
                      "users": means["users"], **{name: means[name] for name in (SERVED, *cold_start.RANKERS)}})
    pooled = future.pool(parts)[future.NEW]
    summary = {"users": len(pooled.users), "means": {}, "served_over_best": {}}
    for metric in METRICS:
        summary["means"][metric] = {name: float(np.mean(values[metric])) for name, values in pooled.figures.items()}
        best = max(REFERENCES, key=lambda name: summary["means"][metric][name])
        ratio, low, high = future.bootstrap_ratio(pooled.figures[SERVED][metric], pooled.figures[best][metric])
        below = [cut["as_of"] for cut in found if cut["users"] and cut[SERVED][metric] <
                 0.9 * max(cut[name][metric] for name in REFERENCES)]
        summary["served_over_best"][metric] = {"best": best, "ratio": ratio, "interval": [low, high],
                                               "cuts_below_0.9": below}
    return {"cuts": found, "pooled": summary}


def _print(name: str, result: dict) -> None:
    print(f"\n{name}: new users' top 10 at {len(result['cuts'])} cuts")
    print(f"{'as of':10}  users  chosen             " + "  ".join(f"{n:>17}" for n in (SERVED, *cold_start.RANKERS)))
    for cut in result["cuts"]:
        if cut["users"]:
            print(f"{cut['as_of']:10}  {cut['users']:5}  {cut['chosen']:17}  " + "  ".join(
                f"{cut[n]['recall@10']:17.4f}" for n in (SERVED, *cold_start.RANKERS)))
    pooled = result["pooled"]
    for metric in METRICS:
        means, versus = pooled["means"][metric], pooled["served_over_best"][metric]
        print(f"pooled {metric} over {pooled['users']} user-cuts: " +
              ", ".join(f"{n} {means[n]:.4f}" for n in (SERVED, *cold_start.RANKERS)) +
              f"; served / {versus['best']} {versus['ratio']:.2f}x [{versus['interval'][0]:.2f}, "
              f"{versus['interval'][1]:.2f}], cuts below 0.9x: {len(versus['cuts_below_0.9'])}")


def main(argv: Optional[List[str]] = None) -> int:
    return common.rolling_cut_cli("bench_cold_start", DATA_SETS, measure, _print, argv)


if __name__ == "__main__":
    raise SystemExit(main())
