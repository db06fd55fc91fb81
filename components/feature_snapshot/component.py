"""FeatureSnapshot: the latest features of every user and movie, to serve the model with.

Training samples carry each rating's features as of that rating; serving needs them as of now. This component
computes them with the same functions (models/sample_features.py) over every rating the pipeline saw, and
the Pusher publishes the result inside the model's version directory, so a model and its features are versioned
together. Ratings come from the raw files when given (what SampleGen read), else from the samples.
"""
from typing import Union

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types

from components.feature_snapshot import executor, spec
from dataio import raw_rows
from recommender import snapshot


class FeatureSnapshot(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = spec.FeatureSnapshotSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, input_base: Union[str, data_types.RuntimeParameter] = "",
                 ratings_pattern: str = raw_rows.RATINGS_GLOB, movies_pattern: str = raw_rows.MOVIES_FILE,
                 shuffle_shards: int = 0,
                 as_of: Union[str, data_types.RuntimeParameter] = ""):
        """examples: the pipeline's samples (every split). input_base: the raw MovieLens directory ("" = none:
        ratings and movies come from the samples, without titles); an empty pattern leaves that file out. Of the
        ratings files the pattern matches, the spans SampleGen recorded on the examples are read (all of
        ratings.csv when it recorded none).
        shuffle_shards: sequential passes that each shuffle one hash shard (0: automatic, see the executor).
        as_of: raw ratings at or after this moment are not read (SampleGen's as_of; "": every rating). The
        snapshot format the executor writes is part of the cache key (spec.FORMAT_VERSION_KEY)."""
        super().__init__(spec.FeatureSnapshotSpec(
            examples=examples, input_base=input_base, ratings_pattern=ratings_pattern,
            movies_pattern=movies_pattern, shuffle_shards=shuffle_shards, as_of=as_of,
            format_version=snapshot.FORMAT_VERSION,
            feature_snapshot=types.Channel(type=spec.SnapshotArtifact)))
