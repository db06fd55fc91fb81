"""recommender.future: periods cut at a time, the baselines against dense references, the metrics by hand, the
bootstrap, and one period of ml-latest-small-2015 when it is beside the checkout."""
import datetime
import math
import time

import numpy as np
import pytest
from scipy import sparse

from models.sample_features import Rating
from recommender import future, will_rate
from tests.conftest import shared_data

DAY = future.DAY
T = 1_000 * DAY  # as_of of the hand-made periods


def _ratings(rows):
    return [Rating(u, m, float(r), int(t)) for u, m, r, t in rows]


def _random_ratings(seed, users=30, movies=25, per_user=(1, 10), start=0, end=T, with_future=True):
    """Random ratings before T and, with_future, in [T, T + 30 days)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, users + 1):
        for movie in rng.choice(np.arange(101, 101 + movies), rng.integers(*per_user), replace=False).tolist():
            rows.append((user, movie, rng.choice([1.0, 2.5, 3.5, 4.0, 5.0]), int(rng.integers(start, end))))
    if with_future:
        for user in range(1, users + 5):  # users above `users` are new
            for movie in rng.choice(np.arange(101, 101 + movies), 3, replace=False).tolist():
                rows.append((user, movie, rng.choice([2.0, 4.0, 5.0]), int(rng.integers(T, T + 30 * DAY))))
    return _ratings(rows)


def _dense(period):
    return period.matrix.binary.toarray()


def _cosine_scores(x):
    """Brute force: every user's summed cosine similarity to each movie, over the dense binary matrix."""
    co = x.T @ x
    raters = np.diag(co)
    similarity = co / np.sqrt(np.outer(raters, raters))
    np.fill_diagonal(similarity, 0.0)
    return x @ similarity


def _ease_reference(x, lam):
    """Steck (2019) as written: B = I - P diag(1/diag(P)), P = (X^T X + lam I)^-1."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    return np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))


# The period


def test_targets_are_liked_unrated_movies_of_the_window_and_users_split_into_known_and_new():
    period = future.FuturePeriod.of(_ratings([
        (1, 10, 4.0, T - 5), (1, 11, 2.0, T - 4),  # user 1's history
        (1, 10, 5.0, T + 1),  # rated before: not a target
        (1, 12, 3.0, T + 2),  # not liked (< 3.5)
        (1, 13, 3.5, T + 3),  # liked: the threshold
        (1, 14, 5.0, T + 30 * DAY),  # at `until`: outside
        (2, 11, 4.0, T - 1), (2, 12, 2.0, T + 9),  # known, no target: not scored
        (3, 13, 4.5, T),  # at as_of: in the window; user 3 is new
        (3, 15, 4.0, T + 10),  # a movie nobody rated before as_of
        (4, 10, 1.0, T + 3),  # new, nothing liked
    ]), T, T + 30 * DAY)
    assert {u: t.tolist() for u, t in period.targets.items()} == {1: [13], 3: [13, 15]}
    assert period.known_users.tolist() == [1]
    assert period.new_users.tolist() == [3]
    assert len(period.history) == 3 and (period.history.times < T).all()
    assert period.catalogue.tolist() == [10, 11]  # default: the movies rated before as_of
    assert period.rated(1).tolist() == [10, 11] and period.rated(3).tolist() == []
    assert period.candidates(1).tolist() == [] and period.candidates(3).tolist() == [10, 11]
    given = future.FuturePeriod.of(period.history, T, T + 30 * DAY, catalogue=[15, 11, 13, 10, 13])
    assert given.catalogue.tolist() == [10, 11, 13, 15]
    assert given.candidates(2).tolist() == [10, 13, 15]


def test_a_period_must_end_after_it_starts():
    with pytest.raises(ValueError, match="until"):
        future.FuturePeriod.of([], T, T)


def test_the_holdout_is_the_history_s_own_last_days():
    period = future.FuturePeriod.of(_ratings([
        (1, 10, 4.0, T - 100 * DAY), (1, 11, 4.0, T - 10 * DAY), (2, 11, 5.0, T - 89 * DAY), (3, 12, 4.0, T + 1),
    ]), T, T + DAY)
    holdout = period.holdout(90)
    assert (holdout.as_of, holdout.until) == (T - 90 * DAY, T)
    assert {u: t.tolist() for u, t in holdout.targets.items()} == {1: [11], 2: [11]}
    assert holdout.known_users.tolist() == [1] and holdout.new_users.tolist() == [2]


# The baselines


def test_most_rated_counts_the_history_and_recent_most_rated_its_last_90_days():
    period = future.FuturePeriod.of(_ratings([
        (1, 10, 4.0, T - 200 * DAY), (2, 10, 4.0, T - 150 * DAY), (3, 10, 1.0, T - 91 * DAY),
        (1, 11, 4.0, T - 90 * DAY),  # the first second of the recent window
        (2, 11, 4.0, T - 1),
        (3, 12, 4.0, T - 3 * DAY),
        (1, 12, 4.0, T), (2, 12, 4.0, T + 1), (4, 12, 4.0, T + 2),  # after as_of: not counted
    ]), T, T + DAY)
    rankers = future.popularity(period)
    candidates = np.array([9, 10, 11, 12])
    assert rankers[future.MOST_RATED](4, candidates).tolist() == [0.0, 3.0, 2.0, 1.0]
    assert rankers[future.RECENT_MOST_RATED](4, candidates).tolist() == [0.0, 0.0, 2.0, 1.0]


def test_item_knn_is_the_summed_cosine_similarity_of_a_dense_brute_force():
    period = future.FuturePeriod.of(_random_ratings(1), T, T + 30 * DAY)
    x = _dense(period)
    expected = _cosine_scores(x)
    knn = future.ItemKnn(period)
    users = period.matrix.user_ids.tolist()
    found = knn.rank_users(users, [period.matrix.movie_ids] * len(users))
    np.testing.assert_allclose(np.array(found), expected, rtol=1e-12, atol=1e-12)
    # the same similarities as the will-rate estimate's neighbours, all of them kept
    neighbours = will_rate.neighbours({u: period.rated(u).tolist() for u in users}, k=len(period.matrix.movie_ids))
    user = users[3]
    for movie, score in zip(period.matrix.movie_ids.tolist(), found[3]):
        summed = sum(s for m in period.rated(user).tolist() for n, s in neighbours[m] if n == movie)
        assert score == pytest.approx(summed, abs=1e-12)
    # a candidate nobody rated scores 0; a new user is not scored
    assert knn(user, np.array([1, 101]))[0] == 0.0
    assert knn(10_000, np.array([101])) is None


def test_item_knn_blocks_of_users_change_nothing():
    period = future.FuturePeriod.of(_random_ratings(2), T, T + 30 * DAY)
    users = period.matrix.user_ids.tolist()
    candidates = [period.candidates(u) for u in users]
    whole = future.ItemKnn(period).rank_users(users, candidates)
    blocked = future.ItemKnn(period, block_cells=3 * len(period.matrix.movie_ids)).rank_users(users, candidates)
    assert len(whole) == len(blocked) == len(users)
    for a, b in zip(whole, blocked):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("users", [8, 60], ids=["fewer_users_than_movies", "more_users_than_movies"])
def test_ease_weights_equal_steck_s_closed_form_with_a_zero_diagonal(users):
    period = future.FuturePeriod.of(_random_ratings(3, users=users, movies=20), T, T + 30 * DAY)
    gram = future.EaseGram(period.matrix, items=20)
    assert gram.dual == (users < len(gram.movie_ids))
    x = _dense(period)
    for lam in (0.5, 10.0, 500.0):
        weights = gram.weights(lam)(sparse.identity(len(gram.movie_ids), format="csr"))  # e_i B = row i of B
        np.testing.assert_allclose(weights, _ease_reference(x, lam), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.diag(weights), 0.0, atol=1e-12)
        np.testing.assert_allclose(gram.weights(lam)(period.matrix.binary), x @ _ease_reference(x, lam),
                                   rtol=1e-9, atol=1e-12)


def test_ease_weights_are_computed_in_one_array():
    x = sparse.csr_matrix(np.random.default_rng(4).random((40, 30)) < 0.3, dtype=np.float64)
    weights = future.ease_weights(x, 7.0, block_cells=4 * 30)  # several blocks of columns and rows
    np.testing.assert_allclose(weights, _ease_reference(x.toarray(), 7.0), rtol=1e-9, atol=1e-12)
    a = np.random.default_rng(5).random((50, 50))
    a = a @ a.T + 50 * np.eye(50)
    expected = np.linalg.inv(a)
    inverse = future._inverse_positive_definite(a, block_cells=7 * 50)
    assert np.shares_memory(inverse, a)  # in place: EASE's one N x N array
    np.testing.assert_allclose(inverse, expected, rtol=1e-10, atol=1e-15)


def test_ease_ranks_its_most_rated_movies_only_and_not_new_users():
    period = future.FuturePeriod.of(_random_ratings(6, users=40, movies=20), T, T + 30 * DAY)
    counts = period.matrix.rating_counts()
    kept = np.sort(np.lexsort((period.matrix.movie_ids, -counts))[:12])
    ranker = future.ease(period, lam=25.0, items=12)
    assert ranker.lam == 25.0 and ranker.choice is None
    user = period.known_users[0]
    candidates = period.candidates(user)
    x = _dense(period)[:, kept]
    row = period.matrix.rows([user])[0][0]
    expected = dict(zip(period.matrix.movie_ids[kept].tolist(), (x @ _ease_reference(x, 25.0))[row]))
    found = ranker(user, candidates)
    for movie, score in zip(candidates.tolist(), found):
        if movie in expected:
            assert score == pytest.approx(expected[movie], abs=1e-10)
        else:
            assert score == -np.inf
    assert ranker(10_000, candidates) is None


def test_lambda_is_the_grid_value_with_the_best_holdout_recall():
    """EASE fitted before the holdout window for each lambda, scored on its known users with a dense reference:
    the choice is the best recall (then hit, NDCG), the earlier lambda on a tie."""
    ratings = _random_ratings(7, users=60, movies=30, per_user=(3, 15), start=T - 400 * DAY, end=T)
    period = future.FuturePeriod.of(ratings, T, T + 30 * DAY)
    grid = (0.1, 3.0, 30.0, 300.0, 3000.0)
    choice = future.choose_lambda(period, lambdas=grid, holdout_days=90)
    holdout = period.holdout(90)
    x = _dense(holdout)
    expected = {}
    for lam in grid:
        scores = x @ _ease_reference(x, lam)
        per_user = []
        for user in holdout.known_users.tolist():
            candidates = holdout.candidates(user)
            row = dict(zip(holdout.matrix.movie_ids.tolist(), scores[holdout.matrix.rows([user])[0][0]]))
            ranked = sorted(candidates.tolist(), key=lambda m: (-row[m], m))[:10]
            targets = set(holdout.targets[user].tolist())
            hits = [m in targets for m in ranked]
            ideal = sum(1.0 / math.log2(i + 2) for i in range(min(10, len(targets))))
            per_user.append((sum(hits) / len(targets), float(any(hits)),
                             sum(h / math.log2(i + 2) for i, h in enumerate(hits)) / ideal))
        expected[f"{lam:g}"] = dict(zip(("recall@10", "hit@10", "ndcg@10"), np.mean(per_user, axis=0).tolist()))
    assert len({figures["recall@10"] for figures in expected.values()}) > 1, "a case where lambda matters"
    assert choice.figures == {name: pytest.approx(figures) for name, figures in expected.items()}
    order = [f"{lam:g}" for lam in grid]
    best = max(order, key=lambda name: (expected[name]["recall@10"], expected[name]["hit@10"],
                                        expected[name]["ndcg@10"], -order.index(name)))
    assert choice.chosen == float(best)
    assert choice.users == len(holdout.known_users) > 0
    assert (choice.holdout_start, choice.holdout_end) == (T - 90 * DAY, T)
    assert future.ease(period, lambdas=grid).lam == choice.chosen


def test_lambda_without_holdout_users_is_the_default():
    period = future.FuturePeriod.of(_ratings([(1, 10, 4.0, T - 200 * DAY), (1, 11, 4.0, T + 1)]), T, T + DAY)
    choice = future.choose_lambda(period)
    assert (choice.chosen, choice.users, choice.figures) == (future.DEFAULT_LAMBDA, 0, {})


# Metrics


def test_metrics_on_a_hand_computed_example():
    period = future.FuturePeriod.of(_ratings(
        [(1, m, 4.0, T - m) for m in range(1, 16)]  # user 1 rated 1..15; users 2, 3 rate 16..30 below
        + [(2, m, 4.0, T - m) for m in range(16, 31)] + [(3, 1, 4.0, T - 1)]
        + [(1, 20, 5.0, T + 1), (1, 22, 4.0, T + 2), (1, 40, 4.0, T + 3)]  # targets 20, 22, 40
        + [(9, 25, 4.0, T + 1)]  # new user 9: target 25
    ), T, T + DAY)
    assert period.candidates(1).tolist() == list(range(16, 31))

    def ranker(user, candidates):  # equal scores: by movieId, so 16, 17, ... first
        return np.where(candidates == 22, 1.0, 0.0)
    found = future.score(period, {"r": ranker})
    # user 1: top 10 = 22, then 16, 17, 18, 19, 20, 21, 23, 24, 25: hits at ranks 1 (22) and 6 (20), 40 missed
    dcg = 1.0 + 1.0 / math.log2(7)
    ideal = 1.0 + 1.0 / math.log2(3) + 1.0 / math.log2(4)
    assert found["known"] == {"users": 1, "r": pytest.approx({"hit@10": 1.0, "recall@10": 2 / 3,
                                                               "ndcg@10": dcg / ideal})}
    # user 9: top 10 = 1, 16..24 (catalogue 1..30; 22 first): 25 not in it
    assert found["new"] == {"users": 1, "r": {"hit@10": 0.0, "recall@10": 0.0, "ndcg@10": 0.0}}


def test_a_ranker_undefined_for_new_users_has_no_figures_there():
    period = future.FuturePeriod.of(_random_ratings(8), T, T + 30 * DAY)
    assert len(period.known_users) and len(period.new_users)
    found = future.score(period, future.baselines(period, lam=10.0))
    assert list(found) == ["known", "new"]
    assert list(found["known"]) == ["users", *future.BASELINES]
    assert all(found["known"][name] is not None for name in future.BASELINES)
    assert found["new"]["item_knn"] is None and found["new"]["ease"] is None
    assert found["new"]["most_rated"] is not None
    sometimes = lambda user, candidates: None if user % 2 else np.zeros(len(candidates))
    with pytest.raises(ValueError, match="some"):
        future.score(period, {"sometimes": sometimes})


def test_the_same_ratings_in_any_order_give_the_same_figures():
    ratings = _random_ratings(9, users=50, per_user=(2, 12))
    period = future.FuturePeriod.of(ratings, T, T + 30 * DAY)
    shuffled = [ratings[i] for i in np.random.default_rng(0).permutation(len(ratings))]
    again = future.FuturePeriod.of(shuffled, T, T + 30 * DAY)
    first = future.score(period, future.baselines(period, lambdas=(1.0, 100.0), holdout_days=300))
    assert first == future.score(again, future.baselines(again, lambdas=(1.0, 100.0), holdout_days=300))


def test_pooled_user_periods_and_the_bootstrap_ratio():
    parts = [future.per_user(p, future.baselines(p, lam=10.0)) for p in (
        future.FuturePeriod.of(_random_ratings(10), T, T + 30 * DAY),
        future.FuturePeriod.of(_random_ratings(11), T, T + 30 * DAY))]
    pooled = future.pool(parts)
    assert len(pooled["known"].users) == sum(len(p["known"].users) for p in parts)
    assert pooled["new"].figures["ease"] is None
    recall = pooled["known"].figures["ease"]["recall@10"]
    assert recall.tolist() == [*parts[0]["known"].figures["ease"]["recall@10"],
                               *parts[1]["known"].figures["ease"]["recall@10"]]
    assert pooled["known"].summary()["users"] == len(recall)

    ours = np.array([0.5, 0.2, 0.0, 0.4, 0.1, 0.3, 0.0, 0.6])
    reference = np.array([0.3, 0.1, 0.1, 0.2, 0.0, 0.3, 0.1, 0.2])
    ratio, low, high = future.bootstrap_ratio(ours, reference, seed=3)
    assert ratio == pytest.approx(ours.mean() / reference.mean())
    assert low < ratio < high
    assert future.bootstrap_ratio(ours, reference, seed=3) == (ratio, low, high)
    assert future.bootstrap_ratio(ours, ours) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="paired"):
        future.bootstrap_ratio(ours, reference[:3])


# One period of real data


@pytest.mark.shared_data
def test_one_period_of_ml_latest_small_2015():
    """as_of 2014-01-01, 90 days: figures printed (run with -s), not compared with each other (module report)."""
    from dataio import raw_rows

    path = shared_data("ml-latest-small-2015", "ratings.csv")
    started = time.time()
    with open(path) as lines:
        next(lines)
        ratings = [raw_rows.parse_rating(line.rstrip("\n")) for line in lines if line.strip()]
    as_of = int(datetime.datetime(2014, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
    period = future.FuturePeriod.of(ratings, as_of, as_of + 90 * DAY)
    rankers = future.baselines(period)
    found = future.score(period, rankers)
    print(f"\n{found}\nEASE lambda {rankers['ease'].lam:g}; {time.time() - started:.1f} s")
    assert found["known"]["users"] > 0 and found["new"]["users"] > 0
    assert rankers["ease"].lam in future.LAMBDAS and rankers["ease"].choice.users > 0
    for group in ("known", "new"):
        for name in future.BASELINES:
            if found[group][name] is not None:
                assert all(0.0 <= value <= 1.0 for value in found[group][name].values())
