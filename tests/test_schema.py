"""The committed schema is the one the feature spec generates, and it says what the spec says."""
from models import features, schema


def test_committed_schema_matches_the_feature_spec():
    with open(schema.SCHEMA_PATH) as f:
        assert f.read() == schema.schema_text(), "run `python -m models.schema --write`"


def test_schema_lists_every_column_with_presence_and_domains():
    built = schema.build_schema()
    by_name = {f.name: f for f in built.feature}
    assert list(by_name) == [c.name for c in features.EXAMPLE_COLUMNS]
    assert by_name["label"].int_domain.min == 0 and by_name["label"].int_domain.max == 1
    assert by_name["movieId"].presence.min_fraction == 1.0
    assert by_name["movieGenre2"].presence.min_fraction == 0.0
    assert by_name["movieGenre2"].domain == schema.GENRE_DOMAIN
    assert by_name["userAvgRating"].float_domain.disallow_nan
    assert list(built.string_domain[0].value) == list(features.GENRES)
    assert schema.SERVING in by_name["label"].not_in_environment
    # Sampled negatives alone carry `rated`: CSV samples and eval never do, and a negative has no rating.
    assert not by_name[features.RATED_KEY].HasField("presence")
    assert by_name["rating"].presence.min_fraction == 0.0
