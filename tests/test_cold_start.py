"""recommender.cold_start on small hand-made histories: the back-test over several windows keeps the default
list unless another wins most windows, by a deterministic rule, from the ratings it is given only."""
import math

import pytest

from models.sample_features import Rating
from recommender import cold_start

DAY = cold_start.DAY
QUARTER = cold_start.RECENT_DAYS  # one back-test window
WINDOWS = cold_start.BACK_TEST_WINDOWS
FIRST_WINDOW = 2000  # the day the earliest back-test window starts
END = FIRST_WINDOW + WINDOWS * QUARTER  # the history ends here (its last rating a second before)
STAPLES = (1, 2)  # rated by many, long before the windows: on top of the all-time count
SEASON = {w: (10 + 2 * w, 11 + 2 * w) for w in range(-1, WINDOWS)}  # movies rated lately before window w starts
MIDDLING = (90, 91)  # rated lately before the windows: on top of the decayed count, not of the others


def window_start(window: int) -> int:
    """Window 0 is the earliest, WINDOWS - 1 the latest."""
    return FIRST_WINDOW + window * QUARTER


def history(liked_in_window, staples_days_before=200, staple_raters=10, middling_raters=0):
    """staple_raters users rated the staples staples_days_before the first window, middling_raters the middling
    movies 120 days before it; before each window three users rated that window's season; in each window w two new
    users like liked_in_window(w); a last rating ends the history."""
    staple_day = FIRST_WINDOW - staples_days_before
    ratings = [Rating(100 + u, m, 2.0, (staple_day + u) * DAY) for u in range(staple_raters) for m in STAPLES]
    for w in range(WINDOWS):
        ratings += [Rating(200 + 10 * w + u, m, 2.0, (window_start(w) - 30 + u) * DAY)
                    for u in range(3) for m in SEASON[w]]
        ratings += [Rating(1000 + 10 * w + u, m, 5.0, (window_start(w) + 10 + u) * DAY)
                    for u in range(2) for m in liked_in_window(w)]
    ratings += [Rating(300 + u, m, 2.0, (FIRST_WINDOW - 120 + u) * DAY) for u in range(middling_raters)
                for m in MIDDLING]
    return ratings + [Rating(999, 5, 1.0, END * DAY - 1)]


def test_recent_is_chosen_when_it_wins_every_window():
    result = cold_start.back_test(history(lambda w: SEASON[w]), n=2)
    assert [window["winner"] for window in result.windows] == [cold_start.RECENT_MOST_RATED] * WINDOWS
    assert result.chosen == cold_start.RECENT_MOST_RATED
    assert [(window["start"], window["end"]) for window in result.windows] == [
        (window_start(w) * DAY, window_start(w + 1) * DAY) for w in reversed(range(WINDOWS))]
    assert (result.window_start, result.window_end) == (FIRST_WINDOW * DAY, END * DAY)
    assert (result.users, result.new_users) == (2 * WINDOWS, 2 * WINDOWS)  # every liker is new in their window
    assert result.figures[cold_start.RECENT_MOST_RATED]["recall@2"] == 1.0
    assert result.figures[cold_start.POPULAR_NOW]["hit@2"] == 0.0  # the staples weigh more than a season's three
    assert "recent_most_rated, by a back-test on 4 windows" in result.summary()


def test_the_default_stays_when_another_wins_half_the_windows_only():
    # The two latest windows like the season, the two earliest the staples (which the default ranks first too).
    result = cold_start.back_test(history(lambda w: SEASON[w] if w >= WINDOWS // 2 else STAPLES), n=2)
    winners = [window["winner"] for window in result.windows]
    assert winners == [cold_start.RECENT_MOST_RATED] * 2 + [cold_start.POPULAR_NOW] * 2
    assert result.chosen == cold_start.POPULAR_NOW


def test_most_rated_is_chosen_when_the_old_favourites_win_most_windows():
    # Twenty rated the staples five years before, twelve the middling movies lately: the staples lead the all-time
    # count, the middling movies the decayed one (the windows' likes of the staples add to both).
    result = cold_start.back_test(
        history(lambda w: STAPLES, staples_days_before=5 * 365, staple_raters=20, middling_raters=12), n=2)
    assert [window["winner"] for window in result.windows] == [cold_start.MOST_RATED] * WINDOWS
    assert result.chosen == cold_start.MOST_RATED
    assert result.figures[cold_start.MOST_RATED] == {"hit@2": 1.0, "recall@2": 1.0, "ndcg@2": 1.0}
    assert result.new_user_figures[cold_start.POPULAR_NOW]["recall@2"] == 0.0


def test_a_tie_goes_to_the_default_and_so_does_nothing_to_test_on():
    # Nobody rated anything but the staples before the windows' likes of them: every list begins with them.
    ratings = [r for r in history(lambda w: STAPLES) if r.movie_id not in {m for s in SEASON.values() for m in s}]
    tie = cold_start.back_test(ratings, n=2)
    assert tie.figures[cold_start.MOST_RATED] == tie.figures[cold_start.RECENT_MOST_RATED] == \
        tie.figures[cold_start.POPULAR_NOW]
    assert tie.chosen == cold_start.POPULAR_NOW
    nobody = cold_start.back_test(history(lambda w: ()), n=2)
    assert (nobody.chosen, nobody.users, nobody.windows) == (cold_start.POPULAR_NOW, 0, [])
    assert "nobody liked" in nobody.summary()
    assert cold_start.back_test([]).chosen == cold_start.POPULAR_NOW


def test_the_result_round_trips_through_the_manifest_form_and_an_older_one_still_reads():
    result = cold_start.back_test(history(lambda w: SEASON[w]), n=2)
    assert cold_start.BackTest.from_dict(result.to_dict()) == result
    older = {key: value for key, value in result.to_dict().items() if key != "windows"}  # before several windows
    assert cold_start.BackTest.from_dict(older).chosen == cold_start.RECENT_MOST_RATED


def test_movie_scores_count_every_rating_the_last_recent_days_and_halve_a_rating_each_half_life():
    now = 1000 * DAY
    times = [10 * DAY, (1000 - cold_start.RECENT_DAYS) * DAY, (1000 - cold_start.HALF_LIFE_DAYS) * DAY, now]
    scores = cold_start.movie_scores(times, now)
    assert (scores[cold_start.MOST_RATED], scores[cold_start.RECENT_MOST_RATED]) == (4.0, 2.0)
    expected = 2 ** (-990 / cold_start.HALF_LIFE_DAYS) + 2 ** (-cold_start.RECENT_DAYS / cold_start.HALF_LIFE_DAYS) \
        + 0.5 + 1.0
    assert math.isclose(scores[cold_start.POPULAR_NOW], expected, rel_tol=1e-12)
    assert cold_start.movie_scores([], now) == {name: 0.0 for name in cold_start.RANKERS}


@pytest.mark.parametrize("liked", [lambda w: SEASON[w], lambda w: STAPLES])
def test_the_choice_does_not_depend_on_the_order_of_the_ratings(liked):
    ratings = history(liked)
    assert cold_start.back_test(ratings, n=2) == cold_start.back_test(ratings[::-1], n=2)
