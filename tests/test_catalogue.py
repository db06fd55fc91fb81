"""recommender.catalogue on hand-made samples: history from train only, targets, candidates and the metrics."""
import dataclasses
import math

import numpy as np
import pytest

from models import features
from models.sample_features import Rating
from recommender import catalogue, cold_start, snapshot


def _sample(user, movie, rating, timestamp, genre="Drama"):
    sample = {name: None for name in features.COLUMN_NAMES}
    sample.update({features.USER_KEY: user, features.MOVIE_KEY: movie, features.RATING_KEY: rating,
                   features.TIME_KEY: timestamp, features.LABEL_KEY: int(rating >= features.POSITIVE_RATING),
                   features.RELEASE_YEAR_KEY: 1990 + movie, features.MOVIE_GENRE_KEYS[0]: genre})
    return sample


DAY = 86_400
# Movie 1 is rated most in training, 2 next (recently), 3 once; users 1-3 have history, user 9 is new.
TRAIN = [_sample(1, 1, 5.0, 1 * DAY), _sample(2, 1, 4.0, 2 * DAY), _sample(3, 1, 4.0, 3 * DAY),
         _sample(1, 2, 4.0, 200 * DAY), _sample(2, 2, 1.0, 201 * DAY), _sample(3, 3, 5.0, 4 * DAY)]
EVAL = [_sample(1, 3, 5.0, 300 * DAY), _sample(1, 4, 4.5, 301 * DAY), _sample(1, 1, 5.0, 302 * DAY),
        _sample(2, 5, 2.0, 300 * DAY), _sample(9, 2, 4.0, 305 * DAY), _sample(3, 4, 4.0, 306 * DAY)]


@pytest.fixture()
def data():
    return catalogue.Catalogue.from_samples(TRAIN, EVAL)


def test_targets_are_liked_eval_movies_not_rated_before(data):
    # User 1 re-rated movie 1 (rated in training): not a target. User 2 liked nothing later: not an eval user.
    assert data.liked_later == {1: {3, 4}, 3: {4}, 9: {2}}
    assert sorted(data.movies) == [1, 2, 3, 4, 5] and data.as_of == 201 * DAY


def test_user_features_are_the_snapshots_over_the_history_only(data):
    user = data.user_entry(1)
    assert user[snapshot.RATED] == [1, 2] and user[snapshot.FEATURES]["userRatingCount"] == 2
    assert data.user_entry(9)[snapshot.RATED] == []
    movies = data.movie_entries()
    assert movies[1][snapshot.FEATURES]["movieRatingCount"] == 3  # eval ratings are not counted
    assert movies[4][snapshot.FEATURES]["movieRatingCount"] == 0


def test_most_rated_and_recent_most_rated_rank_over_the_unrated_candidates(data):
    results = catalogue.evaluate(data, catalogue.baselines(data), top_n=1)
    # most_rated: user 1 gets movie 3 (1 and 2 rated; 3 has one rating), a hit; user 3 gets 2, a miss;
    # user 9 gets movie 1, a miss.
    most = results["most_rated"]
    assert most[catalogue.ALL_USERS]["hit@1"] == pytest.approx(1 / 3)
    assert most[catalogue.WITH_HISTORY] == {"hit@1": 0.5, "recall@1": 0.25, "ndcg@1": 0.5, "users": 2}
    assert most[catalogue.COLD]["users"] == 1 and most[catalogue.COLD]["hit@1"] == 0.0
    assert most[catalogue.ALL_USERS]["coverage"] == 3  # movies 3, 2, 1
    # recent (the last 90 days before day 201): only movie 2 counts; user 9 gets 2, a hit.
    assert results["recent_most_rated"][catalogue.COLD]["hit@1"] == 1.0


def test_ndcg_and_recall_over_several_targets(data):
    def prefer(order):
        return lambda user, candidates: np.array([-order.index(m) if m in order else -99 for m in candidates])
    results = catalogue.evaluate(data, {"fixed": prefer([4, 5, 3])}, top_n=3, min_liked=2)
    only = results["fixed"][catalogue.ALL_USERS]  # user 1 only (two targets): top 4, 5, 3 -> hits at ranks 1, 3
    ideal = 1 + 1 / math.log2(3)
    assert only["users"] == 1 and only["recall@3"] == 1.0
    assert only["ndcg@3"] == pytest.approx((1 + 1 / math.log2(4)) / ideal)


def test_item_knn_scores_by_similarity_to_liked_movies(data):
    knn = catalogue.item_knn(data)
    # User 3 liked 1 and 3; 2 was liked by user 1 together with 1, so 2 outranks 4 and 5 (never liked in history).
    scores = knn(data.user_entry(3), np.array([2, 4, 5]))
    assert scores[0] > scores[1] and scores[0] > scores[2]



def test_item_knn_over_every_rating_counts_a_disliked_co_rating(data):
    # Movies 1 and 2: rated together by users 1 and 2 (user 2 disliked 2), liked together by user 1 only.
    # User 3 (rated and liked 1 and 3) scores movie 2 by sim(1, 2): 1 / sqrt(3 x 1) over likes, 2 / sqrt(3 x 2)
    # over every rating (3 has no co-rating with 2).
    user = data.user_entry(3)
    liked = catalogue.item_knn(data)(user, np.array([2]))[0]
    rated = catalogue.item_knn(data, liked_only=False)(user, np.array([2]))[0]
    assert liked == pytest.approx(1 / math.sqrt(3), abs=1e-5)
    assert rated == pytest.approx(2 / math.sqrt(6), abs=1e-5)

def test_catalogue_gate_compares_ours_with_the_most_rated_list_over_all_users():
    from components.catalogue_eval import gates

    results = {"ours": {catalogue.ALL_USERS: {"users": 8, "recall@10": 0.30}},
               "most_rated": {catalogue.ALL_USERS: {"users": 8, "recall@10": 0.25}}}
    assert gates.gate(results, 10, 1.0) == (
        True, "recall@10 over 8 eval users: ours 0.3000 >= 1.00 x most_rated 0.2500")
    passed, words = gates.gate(results, 10, 1.25)
    assert not passed and words == ("recall@10 over 8 eval users: ours 0.3000 < 1.25 x most_rated 0.2500 "
                                    "(change with --min-catalogue-ratio)")
    assert gates.gate(results, 10, 0.0)[0] and gates.gate(results, 10, 0.0)[1].startswith("off")


def test_the_will_rate_estimate_is_the_back_tests_over_the_training_history_only():
    from recommender import will_rate

    # user 6, who rated before the back-test's latest window, likes an old favourite in it
    train = _trend_history(range(11, 21)) + [_sample(6, 1, 5.0, 485 * DAY)]
    data = catalogue.Catalogue.from_samples(train, [_sample(30, 12, 5.0, 500 * DAY)])
    expected = will_rate.back_test(Rating(s["userId"], s["movieId"], s["rating"], s["timestamp"]) for s in train)
    assert data.will_rate_back_test == expected and expected.users > 0
    later = catalogue.Catalogue.from_samples(train, [_sample(1, 15, 5.0, 500 * DAY), _sample(2, 16, 1.0, 501 * DAY)])
    assert later.will_rate_back_test == expected  # nothing after the cutoff is read
    assert data.will_rate().chosen == expected.chosen
    # Forced to item-kNN, it is the item_knn baseline over every rating plus the one over liked ratings (each
    # with its own rating-count tie-break, at most 1e-6).
    user, ids = data.user_entry(6), np.array(sorted(data.movies))
    rated_part, liked_part = (catalogue.item_knn(data, liked_only)(user, ids) for liked_only in (False, True))
    assert liked_part.max() > 1e-3 and user[snapshot.LIKED]
    np.testing.assert_allclose(
        data.will_rate(will_rate.ITEM_KNN).scores(user[snapshot.RATED], ids, user[snapshot.LIKED]),
        rated_part + liked_part, atol=2e-6)


def test_back_tests_given_by_the_feature_snapshot_are_served_and_not_run_again():
    from recommender import will_rate

    train = _trend_history(range(11, 21))
    own = catalogue.Catalogue.from_samples(train, [_sample(30, 12, 5.0, 500 * DAY)])
    other_estimate = next(e for e in will_rate.ESTIMATES if e != own.will_rate_back_test.chosen)
    other_list = next(r for r in cold_start.RANKERS if r != own.cold_start_back_test.chosen)
    served_will_rate = dataclasses.replace(own.will_rate_back_test, chosen=other_estimate)
    served_cold_start = dataclasses.replace(own.cold_start_back_test, chosen=other_list)
    data = catalogue.Catalogue.from_samples(train, [_sample(30, 12, 5.0, 500 * DAY)], served_cold_start,
                                            served_will_rate)
    assert (data.will_rate().chosen, data.cold_start_back_test.chosen) == (other_estimate, other_list)


def _trend_history(window_likes, recent_stars=4.0):
    """Training samples: movies 1-10 liked long ago by users 1-5, movies 11-20 rated recent_stars lately (day 350)
    by users 6-7; in the back-test's latest window (the last 90 days, from day 400) new users 8 and 9 like
    window_likes."""
    train = [_sample(u, m, 4.0, (10 + u) * DAY) for u in range(1, 6) for m in range(1, 11)]
    train += [_sample(u, m, recent_stars, 350 * DAY) for u in (6, 7) for m in range(11, 21)]
    return train + [_sample(u, m, 5.0, (480 + u) * DAY) for u in (8, 9) for m in window_likes]


# Movies 11-20 disliked where rated: only the latest window has users, and the list that won it is chosen; the
# default (popular_now) and most_rated tie on the old favourites.
@pytest.mark.parametrize("window_likes, served", [(range(11, 21), cold_start.RECENT_MOST_RATED),
                                                  (range(1, 11), cold_start.POPULAR_NOW)])
def test_cold_start_users_get_the_list_the_back_test_chose_over_the_training_history(window_likes, served):
    train = _trend_history(window_likes, recent_stars=2.0)
    # The eval period: new user 30 likes a recent favourite, new user 31 an old one.
    data = catalogue.Catalogue.from_samples(train, [_sample(30, 12, 5.0, 500 * DAY), _sample(31, 2, 5.0, 501 * DAY)])
    assert data.cold_start_back_test.chosen == served
    assert data.cold_start_back_test == cold_start.back_test(
        Rating(s["userId"], s["movieId"], s["rating"], s["timestamp"]) for s in train)
    unchanged = catalogue.Catalogue.from_samples(train, [_sample(30, 5, 5.0, 500 * DAY)])
    assert unchanged.cold_start_back_test == data.cold_start_back_test  # nothing after the cutoff is read
    results = catalogue.evaluate(data, {"ours": catalogue.cold_start_ranker(data),
                                        **catalogue.baselines(data, catalogue.BASELINES)})
    assert results["ours"][catalogue.COLD] == results[served][catalogue.COLD]
    # The movie entries' scores (as of the cutoff), which `recommend` ranks by, are the baselines' counts.
    entries, ids = data.movie_entries(), np.array(sorted(data.movies))
    for name, baseline in catalogue.baselines(data, ("most_rated", "recent_most_rated")).items():
        assert snapshot.cold_start_scores([entries[m] for m in ids], name).tolist() == baseline({}, ids).tolist(), name


@pytest.mark.parametrize("seed", range(20))
def test_scoring_the_likeliest_rated_candidates_first_keeps_the_exact_top_n(seed):
    from recommender import model_ranker, will_rate

    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 400, size=int(rng.integers(1, 5)))  # users ranked together
    candidates = [np.sort(rng.choice(10_000, size, replace=False)) for size in sizes]
    weights = [rng.integers(0, 6, size).astype(float) * rng.choice([1.0, 1e-6], size) for size in sizes]  # ties
    probability = [rng.choice([0.2, 0.5, 1.0], size) for size in sizes]  # ties in the products too
    calls = []

    def probabilities(pending):
        calls.append({i: len(batch) for i, batch in pending})
        return [probability[i][batch] for i, batch in pending]
    top_n = int(rng.integers(1, 12))
    heads = model_ranker._heads_of_product(probabilities, weights, candidates, top_n, first=int(rng.integers(1, 50)))
    for i, head in enumerate(heads):
        expected = will_rate.top_movies(probability[i] * weights[i], candidates[i], top_n)
        assert will_rate.top_movies(head, candidates[i], top_n) == expected, i
        assert np.isfinite(head).sum() == sum(call.get(i, 0) for call in calls)
    assert sum(n for call in calls for n in call.values()) < sum(sizes)  # fewer scored, the same top
    assert len(calls) <= 2 + int(np.log2(max(sizes)))  # one call per round (doubling), every user's round in it


def _many_users(users=40, movies=30, seed=3):
    """Training and eval samples of `users` users over `movies` movies, drawn by `seed`: enough eval users to
    sample from."""
    rng = np.random.default_rng(seed)
    train, eval_samples = [], []
    for user in range(1, users + 1):
        rated = rng.choice(np.arange(1, movies + 1), 8, replace=False).tolist()
        train += [_sample(user, m, float(rng.choice([2.0, 4.0, 5.0])), (10 + i) * DAY) for i, m in enumerate(rated[:5])]
        eval_samples += [_sample(user, m, float(rng.choice([2.0, 4.0, 5.0])), (300 + i) * DAY)
                         for i, m in enumerate(rated[5:])]
    return catalogue.Catalogue.from_samples(train, eval_samples)


def test_at_most_the_cap_every_eval_user_is_ranked_and_the_figures_are_unchanged():
    data = _many_users()
    every = catalogue.evaluate(data, catalogue.baselines(data))
    users = every["most_rated"][catalogue.ALL_USERS]["users"]
    for cap in (0, users, users + 1):
        ranked = catalogue.run_pass(data, catalogue.baselines(data), max_users=cap)
        assert ranked.figures == every and (ranked.ranked, ranked.eval_users, ranked.sampled) == (users, users, False)


def test_above_the_cap_a_seeded_sample_of_eval_users_is_ranked_with_intervals_beside_each_figure():
    from components.catalogue_eval import gates, spec

    data = _many_users()
    users, eligible = catalogue.eval_users(data, max_users=12)
    assert len(users) == 12 and users == sorted(users) and eligible > 12
    assert catalogue.eval_users(data, max_users=12) == (users, eligible)  # same seed, same users
    assert catalogue.eval_users(data, max_users=12, seed=1)[0] != users
    rankers = {"ours": catalogue.item_knn(data), **catalogue.baselines(data, ("most_rated",))}
    ranked = catalogue.run_pass(data, rankers, max_users=12)
    assert ranked.sampled and (ranked.ranked, ranked.eval_users) == (12, eligible)
    # The sample's figures are those of its users alone: a catalogue whose only eval users are the sampled ones.
    sampled = dataclasses.replace(data, liked_later={u: data.liked_later[u] for u in users})
    figures = catalogue.evaluate(sampled, rankers)
    for name in rankers:
        for group, metrics in figures[name].items():
            assert ranked.figures[name][group] == pytest.approx(metrics), (name, group)
    intervals = ranked.intervals("most_rated")
    assert (intervals["ranked"], intervals["eval_users"], intervals["level"]) == (12, eligible, 0.90)
    for name, groups in intervals["figures"].items():
        for group, metrics in groups.items():
            for metric, (low, high) in metrics.items():
                assert low <= ranked.figures[name][group][metric] <= high, (name, group, metric)
    ratio, low, high = intervals["ratios"]["ours"][catalogue.ALL_USERS]["recall@10"]
    assert ratio == pytest.approx(figures["ours"][catalogue.ALL_USERS]["recall@10"]
                                  / figures["most_rated"][catalogue.ALL_USERS]["recall@10"])
    assert low <= ratio <= high and low < high
    assert ranked.intervals("most_rated") == intervals  # seeded: the same intervals again
    # The gate says it compared a sample, and what it logs carries the intervals.
    results = {"ours": ranked.figures["ours"], "most_rated": ranked.figures["most_rated"]}
    passed, words = gates.gate(results, 10, 0.9, ranked.eval_users)
    assert words.startswith(f"recall@10 over a seeded sample of 12 of {eligible} eval users: ours ")
    logged = gates.interval_words(dataclasses.replace(ranked, per_user={
        spec.OURS: ranked.per_user["ours"], spec.GATE_BASELINE: ranked.per_user["most_rated"]}))
    assert logged.startswith(f"recall@10 over a seeded sample of 12 of {eligible} eval users, bootstrap over users: ")
    assert f"ours / most_rated {ratio:.3f} (90% interval {low:.3f}-{high:.3f})" in logged


def test_a_figure_every_user_shares_has_no_width_and_a_ratio_to_a_zero_figure_is_left_out():
    def per_user(hit, recall):
        return {catalogue.ALL_USERS: {"hit": np.array(hit, float), "recall": np.array(recall, float),
                                      "ndcg": np.array(recall, float)}}
    ranked = catalogue.Pass({}, {"ours": per_user([1, 1, 1, 1], [0.5, 0.2, 0.1, 0.0]),
                                 "most_rated": per_user([1, 0, 1, 0], [0.0, 0.0, 0.0, 0.0])}, 4, 4)
    assert ranked.interval("ours", catalogue.ALL_USERS, "hit") == (1.0, 1.0)
    low, high = ranked.interval("ours", catalogue.ALL_USERS, "recall")
    assert 0.0 <= low < 0.2 < high <= 0.5
    ratios = ranked.intervals("most_rated")["ratios"]["ours"][catalogue.ALL_USERS]
    assert set(ratios) == {"hit@10"} and ratios["hit@10"][0] == 2.0


def test_the_cold_start_ranker_scores_each_candidate_by_its_movie_entry_in_any_order():
    data = _many_users()
    entries = data.movie_entries()
    candidates = np.array([7, 3, 30, 1], np.int64)
    for chosen in cold_start.RANKERS:
        expected = snapshot.cold_start_scores([entries[m] for m in candidates.tolist()], chosen)
        assert catalogue.cold_start_ranker(data, chosen)({}, candidates).tolist() == expected.tolist(), chosen
