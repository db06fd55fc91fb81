"""recommender.will_rate: item-kNN neighbours against a brute-force cosine, the estimates' scores and the back-test
that chooses between them."""
import itertools

import numpy as np
import pytest

from models.sample_features import Rating
from recommender import will_rate


def _brute_force(user_movies, k):
    """Dense cosine over every pair, sorted by (-similarity, movieId) per movie: what neighbours() must equal."""
    movies = sorted({m for ms in user_movies.values() for m in ms})
    raters = {m: {u for u, ms in user_movies.items() if m in ms} for m in movies}
    result = {}
    for m in movies:
        pairs = [(n, len(raters[m] & raters[n]) / np.sqrt(len(raters[m]) * len(raters[n]))) for n in movies if n != m]
        result[m] = sorted(((n, s) for n, s in pairs if s > 0), key=lambda p: (-p[1], p[0]))[:k]
    return result


@pytest.mark.parametrize("k", [3, 50])
def test_neighbours_are_the_k_most_cosine_similar_movies_ties_by_movie_id(k, monkeypatch):
    rng = np.random.default_rng(5)
    user_movies = {u: set(rng.choice(np.arange(100, 140), size=rng.integers(1, 12), replace=False).tolist())
                   for u in range(60)}
    monkeypatch.setattr(will_rate, "_BLOCK_CELLS", 7 * 40)  # several blocks of rows: block edges change nothing
    found = will_rate.neighbours(user_movies, k)
    expected = _brute_force(user_movies, k)
    assert set(found) == set(expected)
    for movie, pairs in expected.items():
        assert [n for n, _ in found[movie]] == [n for n, _ in pairs], movie
        np.testing.assert_allclose([s for _, s in found[movie]], [s for _, s in pairs], rtol=1e-12)


def test_equal_similarities_keep_the_lower_movie_ids_and_repeats_count_once():
    # Movie 1 is co-rated once with each of 5, 4, 3, 2 (one rater each, equal similarity): k=2 keeps 2 and 3.
    user_movies = {10: [1, 5, 5], 11: [1, 4], 12: [1, 3], 13: [1, 2]}
    found = will_rate.neighbours(user_movies, k=2)
    assert [n for n, _ in found[1]] == [2, 3]
    assert found[5] == [(1, pytest.approx(1 / np.sqrt(4)))]  # the repeated rating of 5 is one rater
    assert will_rate.neighbours({}) == {}


def test_estimates_score_rating_count_plus_one_or_summed_similarity_with_the_count_breaking_ties():
    counts = {1: 4, 2: 9, 3: 1, 4: 0}
    neighbours = {1: [(3, 0.5), (2, 0.25)], 2: [(3, 0.5)]}
    by_count = will_rate.Estimator(will_rate.RATING_COUNT, counts, neighbours)
    np.testing.assert_array_equal(by_count.scores([1], [2, 3, 4, 77]), [10.0, 2.0, 1.0, 1.0])  # 77: unknown
    knn = will_rate.Estimator(will_rate.ITEM_KNN, counts, neighbours)
    scores = knn.scores([1, 2, 99], [3, 2, 4, 77])  # 99: rated, unknown to the estimate
    np.testing.assert_allclose(scores, [1.0, 0.25, 0.0, 0.0], atol=1e-5)
    assert scores[1] > 0.25 and scores[2] == 0.0  # movie 2's count (the most) breaks its tie, 4 has none
    assert knn.scores([], [3, 2]).argmax() == 1  # a user without ratings: the count alone
    with pytest.raises(ValueError, match="unknown will-rate estimate 'popularity'"):
        will_rate.Estimator("popularity", counts, neighbours)


def test_item_knn_adds_the_similarity_over_liked_ratings_to_the_movies_the_user_liked():
    # The user rated 1 (liked) and 2 (disliked); 3 is rated with 1 and 4 with 2, equally, but only 3 is liked
    # with what the user liked, so it ranks first; without the liked part the count (4's) breaks the tie.
    counts = {1: 5, 2: 5, 3: 1, 4: 2}
    rated_neighbours = {1: [(3, 0.5)], 2: [(4, 0.5)]}
    knn = will_rate.Estimator(will_rate.ITEM_KNN, counts, rated_neighbours, {1: [(3, 0.4)], 2: [(4, 0.9)]})
    np.testing.assert_allclose(knn.scores([1, 2], [3, 4], user_liked=[1]), [0.9, 0.5], atol=1e-5)
    np.testing.assert_array_equal(knn.scores([1, 2], [3, 4]), knn.score_rows([[1, 2]], [3, 4])[0])
    assert knn.scores([1, 2], [3, 4]).argmax() == 1
    np.testing.assert_array_equal(knn.scores([1, 2], [3, 4]),
                                  will_rate.Estimator(will_rate.ITEM_KNN, counts, rated_neighbours).scores(
                                      [1, 2], [3, 4], user_liked=[1]))  # no liked neighbours: the rated part


def test_top_movies_cuts_equal_scores_by_movie_id():
    ids = np.array([3, 5, 8, 9, 12])
    assert will_rate.top_movies(np.array([1.0, 2.0, 2.0, 0.5, 2.0]), ids, 2) == [5, 8]
    assert will_rate.top_movies(np.array([1.0, 2.0]), ids[:2], 5) == [5, 3]


def test_scores_of_several_users_at_once_are_each_users_and_a_movies_score_ignores_the_other_candidates():
    user_movies = _two_tastes()
    counts = {m: sum(m in ms for ms in user_movies.values()) for m in range(1, 45)}
    as_arrays = will_rate.similarities(user_movies, k=5)
    assert will_rate.Similarities.of(as_arrays.as_neighbours()).as_neighbours() == \
        will_rate.neighbours(user_movies, k=5)
    candidates = np.arange(1, 45)  # 41-44: unknown to the estimate
    users = [user_movies[0], user_movies[7], [], [1, 1, 99]]
    fewer = np.flatnonzero([counts.get(m, 0) < max(counts.values()) for m in candidates])  # not the most rated
    times = [[86_400 * (i + 1) for i in range(len(movies))] for movies in users]
    popularity = {m: count / 3 for m, count in counts.items()}
    for estimate in will_rate.ESTIMATES:
        from_dict = will_rate.Estimator(estimate, counts, as_arrays.as_neighbours(), popularity=popularity, now=10**6)
        rows = will_rate.Estimator(estimate, counts, as_arrays, popularity=popularity, now=10**6).score_rows(
            users, candidates, users_times=times)
        for row, movies, movie_times in zip(rows, users, times):
            np.testing.assert_array_equal(row, from_dict.scores(movies, candidates, user_times=movie_times))
            np.testing.assert_array_equal(from_dict.scores(movies, candidates[fewer], user_times=movie_times),
                                          row[fewer])
    knn = will_rate.Estimator(will_rate.ITEM_KNN, counts, as_arrays)
    assert not np.array_equal(knn.scores([1], candidates), knn.scores([1, 2], candidates))  # the user counts


def test_item_knn_now_weighs_the_users_recent_movies_more_and_multiplies_by_what_is_popular_now():
    # The user rated 1 long ago and 2 today; 3 is 1's neighbour, 4 is 2's, equally similar: 4 ranks first. Movie 5,
    # a neighbour of 2 as similar as 4, has been rated much more lately, so it ranks above 4.
    day, now = 86_400, 1000 * 86_400
    neighbours = {1: [(3, 0.5)], 2: [(4, 0.5), (5, 0.5)]}
    counts = {1: 9, 2: 9, 3: 9, 4: 9, 5: 9}
    popularity = {3: 1.0, 4: 1.0, 5: 3.0}
    estimator = will_rate.Estimator(will_rate.ITEM_KNN_NOW, counts, neighbours, popularity=popularity, now=now)
    half_life = will_rate.HALF_LIFE_DAYS
    scores = estimator.scores([1, 2], [3, 4, 5], user_times=[now - 2 * half_life * day, now])
    np.testing.assert_allclose(scores, [0.5 * 0.25 * 2.0 ** 0.5, 0.5 * 2.0 ** 0.5, 0.5 * 2.0], atol=1e-5)
    with pytest.raises(ValueError, match="needs a rating time"):
        estimator.scores([1, 2], [3])
    with pytest.raises(ValueError, match="recent popularity"):
        will_rate.Estimator(will_rate.ITEM_KNN_NOW, counts, neighbours)


def _new_each_window(users=12, windows=6):
    """A back catalogue of 30 movies, each rated by 8 of the 12 users at the start; then every 30 days two new movies
    come out and user u rates both 5u days after: what people rate next is what came out lately, which only
    item_knn_now's weights and recent popularity know (the back catalogue keeps the higher all-time counts)."""
    day = 86_400
    ratings = [Rating(u, m, 5.0, day * (1 + u % 3)) for u in range(users) for m in range(1, 31) if (m + u) % 3]
    for step in range(windows * 3):
        released = 100 + 2 * step
        for u in range(users):
            for m in (released, released + 1):
                ratings.append(Rating(u, m, 5.0 if u % 4 else 1.0, day * (400 + 30 * step + 5 * u)))
    return ratings


def test_the_back_test_holds_out_windows_at_the_end_and_keeps_item_knn_now_where_what_is_new_is_rated():
    test = will_rate.back_test(_new_each_window())
    assert test.chosen == will_rate.ITEM_KNN_NOW == will_rate.DEFAULT
    assert len(test.windows) == will_rate.BACK_TEST_WINDOWS and test.users == sum(w["users"] for w in test.windows)
    now, count = (test.figures[e]["recall@10"] for e in (will_rate.ITEM_KNN_NOW, will_rate.RATING_COUNT))
    assert now > count
    assert test.windows[0]["end"] - test.windows[0]["start"] == will_rate.WINDOW_DAYS * 86_400
    assert test.windows[0]["start"] == test.windows[1]["end"]  # the latest first, back to back
    assert will_rate.BackTest.from_dict(test.to_dict()) == test
    assert test.summary().startswith("item_knn_now, by a back-test on 4 windows of 90 days at the end of the "
                                     f"training history (winners, latest first: {test.windows[0]['winner']}")


def test_a_challenger_replaces_the_default_only_when_it_beats_it_in_most_windows():
    def figures(recall):
        return {"recall@10": recall, "hit@10": 0.5, "ndcg@10": 0.1}
    pooled = {will_rate.RATING_COUNT: figures(0.3), will_rate.ITEM_KNN: figures(0.1),
              will_rate.ITEM_KNN_NOW: figures(0.2)}

    def windows(*count_beats_default):
        return [{will_rate.RATING_COUNT: figures(0.3 if beats else 0.1), will_rate.ITEM_KNN: figures(0.0),
                 will_rate.ITEM_KNN_NOW: figures(0.2)} for beats in count_beats_default]
    assert will_rate.choose(pooled, windows(True, True, True, False)) == (
        will_rate.RATING_COUNT, will_rate.RATING_COUNT, [True, True, True, False])
    assert will_rate.choose(pooled, windows(True, True, False, False))[:2] == (
        will_rate.DEFAULT, will_rate.RATING_COUNT)  # best pooled, but half the windows only
    equal = [{name: figures(0.2) for name in will_rate.ESTIMATES}] * 3
    assert will_rate.choose({name: figures(0.2) for name in will_rate.ESTIMATES}, equal)[0] == will_rate.DEFAULT


def test_no_user_to_back_test_on_means_the_default_and_the_order_of_ratings_does_not_matter():
    one_window = [Rating(u, m, 5.0, 86_400 * (m + u)) for u in range(3) for m in range(1, 5)]
    test = will_rate.back_test(one_window)  # every rating in the latest window: no one rated before it
    assert (test.chosen, test.users, test.figures) == (will_rate.DEFAULT, 0, {})
    assert "so the default estimate" in test.summary()
    assert will_rate.back_test([]).chosen == will_rate.DEFAULT
    ratings = _new_each_window()
    shuffled = list(itertools.chain(ratings[1::2], ratings[::2]))
    assert will_rate.back_test(shuffled) == will_rate.back_test(ratings)


def _two_tastes():
    """6 users rate among movies 1-20, 12 (so more popular movies) among 21-40: co-rating points at each group's
    own movies, popularity at the second group's."""
    rng = np.random.default_rng(3)
    return {u: rng.permutation(np.arange(1, 21) + (20 if u >= 6 else 0))[:15].tolist() for u in range(18)}
