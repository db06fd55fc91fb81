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
    for estimate in will_rate.ESTIMATES:
        from_dict = will_rate.Estimator(estimate, counts, as_arrays.as_neighbours())
        rows = will_rate.Estimator(estimate, counts, as_arrays).score_rows(users, candidates)
        for row, movies in zip(rows, users):
            np.testing.assert_array_equal(row, from_dict.scores(movies, candidates))
            np.testing.assert_array_equal(from_dict.scores(movies, candidates[fewer]), row[fewer])
    knn = will_rate.Estimator(will_rate.ITEM_KNN, counts, as_arrays)
    assert not np.array_equal(knn.scores([1], candidates), knn.scores([1, 2], candidates))  # the user counts


def _ratings(user_movies, liked=lambda user, movie: True):
    """Each user's movies rated in the order given, a day apart: the last ones are the back-test's held-out."""
    return [Rating(u, m, 5.0 if liked(u, m) else 1.0, 86_400 * (i + 1))
            for u, ms in user_movies.items() for i, m in enumerate(ms)]


def _two_tastes():
    """6 users rate among movies 1-20, 12 (so more popular movies) among 21-40. For the first group the most-rated
    unrated movies are the other group's; co-rating points at their own."""
    rng = np.random.default_rng(3)
    return {u: rng.permutation(np.arange(1, 21) + (20 if u >= 6 else 0))[:15].tolist() for u in range(18)}


def test_the_back_test_picks_item_knn_where_co_rating_predicts_what_popularity_does_not():
    test = will_rate.back_test(_ratings(_two_tastes()))
    assert test.chosen == will_rate.ITEM_KNN and test.users == 18
    knn, count = (test.figures[e]["recall@10"] for e in (will_rate.ITEM_KNN, will_rate.RATING_COUNT))
    assert knn > count
    assert will_rate.BackTest.from_dict(test.to_dict()) == test
    assert test.summary().startswith(f"item_knn, by a back-test on each user's last 5 training ratings: "
                                     f"recall@10/hit@10 over 18 users item_knn {knn:.4f}")


def test_the_back_test_keeps_the_rating_count_where_co_rating_adds_nothing_and_reads_only_liked_targets():
    # Everyone rates the same movies in the same order, the most-rated first: both estimates find the held-out
    # movies, and the tie goes to the simpler. A user whose held-out ratings are all disliked has no target.
    user_movies = {u: list(range(1, 11 + u % 5)) for u in range(12)}
    test = will_rate.back_test(_ratings(user_movies, liked=lambda user, movie: user != 0))
    assert test.chosen == will_rate.RATING_COUNT and test.users == 11
    assert test.figures[will_rate.RATING_COUNT]["recall@10"] == 1.0


def test_users_with_fewer_than_min_ratings_are_history_only_and_no_target_means_the_rating_count():
    few = {u: list(range(1, will_rate.MIN_RATINGS)) for u in range(5)}
    test = will_rate.back_test(_ratings(few))
    assert (test.chosen, test.users, test.figures) == (will_rate.RATING_COUNT, 0, {})
    assert "no user with 10 ratings" in test.summary()
    assert will_rate.back_test([]).chosen == will_rate.RATING_COUNT


def test_the_back_test_depends_on_the_ratings_not_their_order():
    ratings = _ratings(_two_tastes())
    shuffled = list(itertools.chain(ratings[1::2], ratings[::2]))
    assert will_rate.back_test(shuffled) == will_rate.back_test(ratings)
