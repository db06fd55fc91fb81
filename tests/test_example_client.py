"""The bench's tf.Example client: a user part joined to a pre-serialized movie part is the Example a client
would build for the pair (protobuf parses concatenated messages as their merge)."""
from __future__ import annotations

import tensorflow as tf

from bench import example_client
from recommender import snapshot


def test_joined_examples_equal_the_examples_built_per_candidate(snapshot_entries):
    movies, user = snapshot_entries
    candidates = [3, 1, 2]
    joined = example_client.ExampleTable(movies).request(7, user[snapshot.FEATURES], candidates)
    built = example_client.naive_request(7, user[snapshot.FEATURES], movies, candidates)
    assert [tf.train.Example.FromString(b) for b in joined] == [tf.train.Example.FromString(b) for b in built]
    assert "movieGenre1" not in tf.train.Example.FromString(joined[0]).features.feature  # missing: left out
