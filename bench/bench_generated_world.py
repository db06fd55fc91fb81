"""Is the generated world realistic in time and in taste? The baselines on its future, at rolling cuts.

    python -m bench.bench_generated_world                         # 24k (`make run`'s data), seed 42
    python -m bench.bench_generated_world --size 1000000 --cuts 4 --ease-lambda 500

Generates the world in memory (`synthetic.generate_world`, timed), then at each cut t (from --start, every --every
days) scores the known users (rated before t, liked a movie they had not rated in [t, t + horizon)) with
`recommender.future`'s baselines (most-rated, recent most-rated over 90 days, item-kNN, EASE) and with
recent_knn: item-kNN over the user's ratings weighted by their recency (half-life RECENT_HALF_LIFE_DAYS), times the
movie's recent popularity (ratings weighted alike, + 1). Pooled over the cuts' known users: recall@10 and NDCG@10 of
each, and each over most-rated.

What real data shows (docs/data-and-validation.md, "The generated world"): recent most-rated beats most-rated, and
the personal rankers beat both; a world where they do not cannot tell a model that learns from one that does not.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import List, Optional

import numpy as np
from scipy import sparse

from bench import common
from dataio import raw_rows
from pipeline.datasets import synthetic
from pipeline.runners import replay
from recommender import future

RECENT_KNN = "recent_knn"
RECENT_HALF_LIFE_DAYS = 90
RANKERS = (*future.BASELINES, RECENT_KNN)
METRICS = ("recall@10", "ndcg@10")


class RecentKnn(future.ItemKnn):
    """Item-kNN (binary cosine) summed over the user's ratings weighted by exp2(-age / half_life), times the
    movie's recency-weighted number of ratings + 1."""

    def __init__(self, period: future.FuturePeriod, half_life_days: float = RECENT_HALF_LIFE_DAYS):
        super().__init__(period)
        history, matrix = period.history, period.matrix
        rows = np.searchsorted(matrix.user_ids, history.users)
        cols = np.searchsorted(matrix.movie_ids, history.movies)
        decay = np.exp2(-(period.as_of - history.times) / future.DAY / half_life_days)
        self._recent_rows = sparse.csr_matrix((decay, (rows, cols)), shape=matrix.binary.shape)
        self._column_weight = self._norm * (np.bincount(cols, decay, minlength=len(matrix.movie_ids)) + 1.0)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        summed = ((self._recent_rows[rows] @ self._scaled_transposed) @ self._binary).toarray()
        summed *= self._column_weight[None, :]
        return summed  # a rated movie's own similarity is left in: it is never a candidate


def measure(ratings: future.Ratings, start: str, every_days: int, cuts: int, horizon_days: int,
            ease_lambda: Optional[float]) -> dict:
    found: List[dict] = []
    parts = []
    for k in range(cuts):
        as_of = raw_rows.as_of_timestamp(start) + k * every_days * future.DAY
        period = future.FuturePeriod.of(ratings, as_of, as_of + horizon_days * future.DAY)
        if not len(period.known_users):
            continue
        rankers = future.baselines(period, lam=ease_lambda)
        rankers[RECENT_KNN] = RecentKnn(period)
        figures = future.per_user(period, rankers, groups=(future.KNOWN,))
        parts.append(figures)
        found.append({"as_of": raw_rows.utc_time(as_of)[:10], **figures[future.KNOWN].summary()})
    pooled = future.pool(parts)[future.KNOWN]
    means = {metric: {name: float(np.mean(pooled.figures[name][metric])) for name in RANKERS} for metric in METRICS}
    return {"cuts": found, "pooled": {"users": len(pooled.users), "means": means}}


def _print(name: str, result: dict) -> None:
    print(f"\n{name}: known users' top 10, recall@10 per cut (x most-rated)")
    print(f"{'as of':10}  users  " + "  ".join(f"{n:>17}" for n in RANKERS))
    for cut in result["cuts"]:
        base = cut[future.MOST_RATED]["recall@10"] or float("nan")
        print(f"{cut['as_of']:10}  {cut['users']:5}  " + "  ".join(
            f"{cut[n]['recall@10']:8.4f} ({cut[n]['recall@10'] / base:4.2f}x)" for n in RANKERS))
    pooled = result["pooled"]
    print(f"pooled, {pooled['users']} user-periods:")
    for metric in METRICS:
        means = pooled["means"][metric]
        print(f"  {metric:9}  " + "  ".join(
            f"{n} {means[n]:.4f} ({means[n] / means[future.MOST_RATED]:.2f}x)" for n in RANKERS))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=24000, help="generated ratings")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", default="2011-01-01", help="the first cut, YYYY-MM-DD")
    parser.add_argument("--every", type=int, default=180, help="days between cuts")
    parser.add_argument("--cuts", type=int, default=8)
    parser.add_argument("--horizon", type=int, default=180, help="days of future scored after each cut")
    parser.add_argument("--ease-lambda", type=float, help="EASE's lambda (default: chosen on each history)")
    parser.add_argument("--movielens", metavar="DIR", help="a MovieLens directory's ratings instead, for reference")
    parser.add_argument("--name", help="the results file's name (default: generated-world-SIZE)")
    args = parser.parse_args(argv)
    seconds = None
    if args.movielens:
        ratings = replay.read_raw_ratings(args.movielens)
    else:
        started = time.perf_counter()
        world = synthetic.generate_world(args.size, args.seed)
        seconds = time.perf_counter() - started
        print(f"generated {len(world.ratings):,} ratings, {len(world.movies):,} movies in {seconds:.1f} s")
        ratings = future.Ratings(*world.ratings.columns())
    result = measure(ratings, args.start, args.every, args.cuts, args.horizon, args.ease_lambda)
    name = args.name or (f"generated-world-{os.path.basename(os.path.normpath(args.movielens))}" if args.movielens
                         else f"generated-world-{args.size}")
    _print(name, result)
    result.update(size=args.size, seed=args.seed, generation_seconds=seconds, start=args.start, every=args.every,
                  horizon=args.horizon, ease_lambda=args.ease_lambda)
    print(f"wrote {common.write_results(name, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
