"""The features that know time (recent rating counts, the movie's age and trend, the user's recency): point in time,
equal to a count written apart, the same in training and serving, and in the schema and the model as the spec says."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import features, model, sample_features, schema
from recommender import snapshot

Rating, Movie = sample_features.Rating, sample_features.Movie
DAY = 86_400
T0 = 946684800
MOVIES = {m: Movie(m, 1990 + m, (features.GENRES[m],)) for m in range(1, 4)}
# Times around the windows' edges: ties, exactly 7, 30 and 90 days apart, a second either side.
_OFFSETS = st.sampled_from([0, 1, 2, 7 * DAY - 1, 7 * DAY, 7 * DAY + 1, 30 * DAY, 30 * DAY + 1, 90 * DAY - 1,
                            90 * DAY, 90 * DAY + 1, 200 * DAY])
ratings_lists = st.lists(
    st.builds(lambda u, m, s, offsets: Rating(u, m, s, T0 + sum(offsets)), st.integers(1, 3), st.sampled_from(
        sorted(MOVIES)), st.sampled_from([1.0, 3.5, 5.0]), st.lists(_OFFSETS, min_size=1, max_size=3)),
    min_size=1, max_size=25, unique_by=lambda r: r.key)


def expected_movie(ratings, movie_id: int, at: int) -> dict:
    """Counted one rating at a time from the definitions."""
    before = [r.timestamp for r in ratings if r.movie_id == movie_id and r.timestamp < at]
    within = {days: len([t for t in before if at - t <= days * DAY]) for days in (7, 30, 90)}
    return {"movieRatingCount7d": within[7], "movieRatingCount30d": within[30], "movieRatingCount90d": within[90],
            "movieSecondsSinceFirstRating": at - min(before) if before else None,
            "movieTrend": round(within[90] / len(before), 2) if before else None}


def expected_user(ratings, user_id: int, at: int) -> dict:
    before = [r.timestamp for r in ratings if r.user_id == user_id and r.timestamp < at]
    return {"userSecondsSinceLastRating": at - max(before) if before else None}


def time_part(sample: dict, keys) -> dict:
    return {k: sample[k] for k in keys}


MOVIE_KEYS = sample_features.MOVIE_TIME_KEYS
USER_KEYS = (features.USER_RECENCY_KEY,)


@settings(max_examples=60, deadline=None)
@given(ratings=ratings_lists)
def test_every_samples_time_features_count_the_earlier_ratings_only(ratings):
    samples = list(sample_features.build_samples(ratings, MOVIES, min_user_history=0))
    assert len(samples) == len(ratings)
    for sample in samples:
        at = sample[features.TIME_KEY]
        assert time_part(sample, MOVIE_KEYS) == expected_movie(ratings, sample[features.MOVIE_KEY], at)
        assert time_part(sample, USER_KEYS) == expected_user(ratings, sample[features.USER_KEY], at)


@settings(max_examples=60, deadline=None)
@given(ratings=ratings_lists, later=ratings_lists, after=_OFFSETS)
def test_a_rating_after_the_sample_never_changes_its_features(ratings, later, after):
    """The leakage test: ratings at or after a sample's time (moved behind a cut inside the history, not only after
    all of it) change none of its features."""
    cut = sorted(r.timestamp for r in ratings)[len(ratings) // 2] + after % 3
    extra = [dataclasses.replace(r, timestamp=cut + r.timestamp - T0) for r in later]
    extra = [r for r in extra if r.key not in {x.key for x in ratings}]
    alone = {sample_key(s): s for s in sample_features.build_samples(ratings, MOVIES, min_user_history=0)}
    joined = {sample_key(s): s for s in sample_features.build_samples(ratings + extra, MOVIES, min_user_history=0)}
    earlier = [key for key in alone if key[2] < cut]
    for key in earlier:
        assert joined[key] == alone[key], key


def sample_key(sample) -> tuple:
    return sample[features.USER_KEY], sample[features.MOVIE_KEY], sample[features.TIME_KEY]


@settings(max_examples=40, deadline=None)
@given(ratings=ratings_lists)
def test_the_snapshot_holds_what_a_sample_one_second_after_the_latest_rating_gets(ratings):
    """Training and serving agree: the snapshot's entries (as of its latest rating) hold the features SampleGen's code
    gives a sample at the snapshot's time, a probe rating one second after every rating."""
    now = max(r.timestamp for r in ratings)
    probes = [Rating(u, m, 4.0, now + 1) for u in (1, 2, 3) for m in MOVIES]
    samples = {sample_key(s): s for s in sample_features.build_samples(ratings + probes, MOVIES, min_user_history=0)}
    for u in (1, 2, 3):
        user = snapshot.user_entry(u, [r for r in ratings if r.user_id == u], MOVIES, now=now)[snapshot.FEATURES]
        for m in MOVIES:
            movie = snapshot.movie_entry(MOVIES[m], "", [r for r in ratings if r.movie_id == m], now=now)
            probe = samples[(u, m, now + 1)]
            assert time_part(movie[snapshot.FEATURES], MOVIE_KEYS) == time_part(probe, MOVIE_KEYS)
            assert {k: user[k] for k in user} == {k: probe[k] for k in user}
            # and as of any earlier time, the sample of that time (the skew test's path)
            for r in ratings:
                if r.user_id == u and r.movie_id == m:
                    at_sample = samples[r.key]
                    past = snapshot.movie_entry(MOVIES[m], "", [x for x in ratings if x.movie_id == m],
                                                before=r.timestamp)[snapshot.FEATURES]
                    assert time_part(past, MOVIE_KEYS) == time_part(at_sample, MOVIE_KEYS)


def test_recent_counts_bound_the_window_at_exactly_its_days_and_leave_the_samples_own_time_out():
    at = T0 + 100 * DAY
    times = sorted([at - 90 * DAY - 1, at - 90 * DAY, at - 30 * DAY, at - 7 * DAY - 1, at - 7 * DAY, at - 1, at,
                    at + 5])
    got = sample_features.movie_time_features(times, at)
    assert got == {"movieRatingCount7d": 2, "movieRatingCount30d": 4, "movieRatingCount90d": 5,
                   "movieSecondsSinceFirstRating": 90 * DAY + 1, "movieTrend": round(5 / 6, 2)}
    assert sample_features.movie_time_features([at, at + 1], at) == {
        "movieRatingCount7d": 0, "movieRatingCount30d": 0, "movieRatingCount90d": 0,
        "movieSecondsSinceFirstRating": None, "movieTrend": None}
    assert sample_features.user_time_features(at - 60, at) == {"userSecondsSinceLastRating": 60}
    assert sample_features.user_time_features(None, at) == {"userSecondsSinceLastRating": None}


def test_schema_and_model_carry_the_time_features_as_the_spec_says():
    built = {f.name: f for f in schema.build_schema().feature}
    numeric = {f.name: f for f in features.NUMERIC_FEATURES}
    for column in features.TIME_COLUMNS:
        assert column.name not in features.COLUMN_NAMES  # the CSV sample format is SparrowRecSys' own
        assert not built[column.name].HasField("presence")  # CSV samples have none
        assert not built[column.name].HasField("drift_comparator")  # they move with the cut by construction
        assert column.name in numeric and column.name in features.MODEL_FEATURE_KEYS
    assert set(features.TIME_FEATURE_KEYS) == set(sample_features.MOVIE_TIME_KEYS) | {features.USER_RECENCY_KEY}
    assert all(numeric[k].log1p for k in (*features.MOVIE_RECENT_COUNT_KEYS.values(), features.MOVIE_AGE_KEY,
                                          features.USER_RECENCY_KEY))
    # Every time feature a sample gets is in the spec, and the sample builders produce every one.
    sample = next(sample_features.build_samples([Rating(1, 1, 4.0, T0), Rating(1, 2, 4.0, T0 + 5)], MOVIES))
    assert set(features.TIME_COLUMN_NAMES) <= set(sample)


@pytest.mark.parametrize("time_features", [True, False])
def test_the_hyperparameter_decides_whether_the_model_reads_them(time_features):
    sizes = {f.name: 20 + f.oov_buckets for f in features.CATEGORICAL_FEATURES}
    built = model.build_model(sizes, model.HParams(time_features=time_features))
    numerics = len(features.NUMERIC_FEATURES) - (0 if time_features else len(features.TIME_FEATURE_KEYS))
    width = features.EMBEDDING_DIM * len(features.CATEGORICAL_FEATURES) + numerics
    assert built.get_layer("stacking").output_shape == (None, width)
    assert len(built.inputs) == len(features.MODEL_FEATURE_KEYS)  # the signatures take every feature either way
