"""recommender.cold_start on small hand-made histories: the back-test picks the list that predicted the held-out
window, by a deterministic rule, from the ratings it is given only."""
import pytest

from models.sample_features import Rating
from recommender import cold_start

DAY = cold_start.DAY
END = 490  # the history's last day: the held-out window is days 400-490
OLD_FAVOURITES, NEW_FAVOURITES = (1, 2), (3, 4)


def history(window_likes, new_favourites_before=NEW_FAVOURITES):
    """Users 1-5 liked movies 1 and 2 long ago, users 6-7 movies 3 and 4 shortly before the window; in the window
    user 6 (returning) and users 8-9 (new) like window_likes; a late rating of user 1 ends the history."""
    ratings = [Rating(u, m, 4.0, (10 + u) * DAY) for u in range(1, 6) for m in OLD_FAVOURITES]
    ratings += [Rating(u, m, 4.5, 350 * DAY) for u in (6, 7) for m in new_favourites_before]
    ratings += [Rating(u, m, 5.0, (420 + u) * DAY) for u in (6, 8, 9) for m in window_likes]
    return ratings + [Rating(1, 5, 1.0, END * DAY)]


def test_recent_wins_when_the_window_likes_what_was_rated_lately():
    result = cold_start.back_test(history(window_likes=(3, 4)), n=2)
    assert result.chosen == cold_start.RECENT_MOST_RATED
    assert (result.window_start, result.window_end) == ((END - cold_start.RECENT_DAYS) * DAY, END * DAY)
    # user 6 had rated 3 and 4 before the window: only users 8 and 9 count, both new there
    assert (result.users, result.new_users) == (2, 2)
    assert result.figures[cold_start.RECENT_MOST_RATED]["recall@2"] == 1.0
    assert result.figures[cold_start.MOST_RATED]["hit@2"] == 0.0
    assert "recent_most_rated, by a back-test" in result.summary()


def test_all_time_wins_when_the_window_likes_the_old_favourites():
    result = cold_start.back_test(history(window_likes=OLD_FAVOURITES), n=2)
    assert result.chosen == cold_start.MOST_RATED
    assert (result.users, result.new_users) == (3, 2)  # user 6, returning, had not rated 1 or 2
    assert result.figures[cold_start.MOST_RATED] == {"hit@2": 1.0, "recall@2": 1.0, "ndcg@2": 1.0}
    assert result.new_user_figures[cold_start.RECENT_MOST_RATED]["recall@2"] == 0.0


def test_a_tie_goes_to_the_most_rated_list_and_nothing_to_test_on_too():
    # Movies 1 and 2 were also rated lately: both lists are 1, 2.
    tie = cold_start.back_test(history(window_likes=OLD_FAVOURITES, new_favourites_before=OLD_FAVOURITES), n=2)
    assert tie.figures[cold_start.MOST_RATED] == tie.figures[cold_start.RECENT_MOST_RATED]
    assert tie.chosen == cold_start.MOST_RATED
    nobody = cold_start.back_test(history(window_likes=()), n=2)
    assert (nobody.chosen, nobody.users) == (cold_start.MOST_RATED, 0) and "nobody liked" in nobody.summary()
    assert cold_start.back_test([]).chosen == cold_start.MOST_RATED


def test_the_result_round_trips_through_the_manifest_form():
    result = cold_start.back_test(history(window_likes=(3, 4)), n=2)
    assert cold_start.BackTest.from_dict(result.to_dict()) == result


def test_movie_scores_count_every_rating_and_the_last_recent_days_before_now():
    now = 1000 * DAY
    times = [10 * DAY, (1000 - cold_start.RECENT_DAYS) * DAY, 999 * DAY, now]
    assert cold_start.movie_scores(times, now) == {cold_start.MOST_RATED: 4.0, cold_start.RECENT_MOST_RATED: 3.0}
    assert cold_start.movie_scores([], now) == {name: 0.0 for name in cold_start.RANKERS}


@pytest.mark.parametrize("window_likes", [(3, 4), OLD_FAVOURITES])
def test_the_choice_does_not_depend_on_the_order_of_the_ratings(window_likes):
    ratings = history(window_likes)
    assert cold_start.back_test(ratings, n=2) == cold_start.back_test(ratings[::-1], n=2)
