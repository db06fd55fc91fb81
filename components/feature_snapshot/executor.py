"""FeatureSnapshot executor: pick the sources of ratings and movies, run the Beam job, back-test the cold-start
rankers and the will-rate estimates on the training split, write the chosen estimate's neighbours and the
manifest."""
import logging
import os
from typing import Any, Dict, Iterator, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components.feature_snapshot import beam_snapshot, spec
from components.sample_gen import spec as sample_gen_spec
from dataio import raw_rows, shuffle_shards
from models import features, sample_features
from recommender import cold_start, snapshot, will_rate

# shuffle_shards=0 on the direct runner: a shard per ~100k ratings, in ratings.csv (as SampleGen shards them) or in
# samples (gzipped tf.Examples, ~67 bytes each)
SAMPLE_BYTES_PER_SHARD = 6_500_000


def _raw_pattern(exec_properties: Dict[str, Any], pattern_key: str) -> str:
    """The raw file pattern under input_base, "" when not used; a pattern that matches nothing is an error."""
    base, pattern = exec_properties.get(spec.INPUT_BASE_KEY) or "", exec_properties.get(pattern_key) or ""
    if not (base and pattern):
        return ""
    path = os.path.join(base, pattern)
    if not fileio.glob(path):
        raise FileNotFoundError(f"FeatureSnapshot: no file matches {path} ({pattern_key})")
    return path


def ratings_files(exec_properties: Dict[str, Any], examples: types.Artifact) -> raw_rows.RatingsFiles:
    """The raw ratings files SampleGen read for these examples: ratings.csv, or the very spans it recorded (a span
    that arrived since is read by the next run); none without raw ratings."""
    pattern = _raw_pattern(exec_properties, spec.RATINGS_PATTERN_KEY)
    if not pattern:
        return raw_rows.RatingsFiles(())
    recorded = examples.get_string_custom_property(sample_gen_spec.SPANS_PROPERTY) if examples.has_custom_property(
        sample_gen_spec.SPANS_PROPERTY) else ""
    try:
        return raw_rows.ratings_files(exec_properties[spec.INPUT_BASE_KEY], fileio.glob(pattern),
                                      spans=raw_rows.parse_span_ranges(recorded))
    except ValueError as error:
        raise ValueError(f"FeatureSnapshot: {error}") from None


def _ratings_source(ratings: raw_rows.RatingsFiles) -> str:
    if not ratings.spans:
        return ratings.paths[0]
    return (f"{os.path.join(os.path.dirname(ratings.paths[0]), raw_rows.RATINGS_SPAN_PATTERN)} spans "
            f"{raw_rows.span_ranges(ratings.spans)}")


def _example_patterns(examples: types.Artifact) -> List[str]:
    return [os.path.join(artifact_utils.get_split_uri([examples], split), "*")
            for split in artifact_utils.decode_split_names(examples.split_names)]


def training_ratings(examples: types.Artifact) -> Iterator[sample_features.Rating]:
    """The ratings of the training split's samples: the history before the cutoff, all the back-test may read."""
    if spec.TRAIN_SPLIT not in artifact_utils.decode_split_names(examples.split_names):
        raise ValueError(f"FeatureSnapshot: the examples {examples.uri} have no {spec.TRAIN_SPLIT!r} split to "
                         "back-test the cold-start rankers on")
    for path in fileio.glob(os.path.join(artifact_utils.get_split_uri([examples], spec.TRAIN_SPLIT), "*")):
        records = tf.data.TFRecordDataset([path], compression_type="GZIP" if path.endswith(".gz") else "")
        for record in records.as_numpy_iterator():
            for rating, _ in beam_snapshot.sample_rating((path, record)):
                yield rating


class Executor(base_beam_executor.BaseBeamExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(input_dict[spec.EXAMPLES_KEY])
        output = artifact_utils.get_single_instance(output_dict[spec.SNAPSHOT_KEY])
        raw_ratings = ratings_files(exec_properties, examples)
        ratings_path = _ratings_source(raw_ratings) if raw_ratings.paths else ""
        movies_path = _raw_pattern(exec_properties, spec.MOVIES_PATTERN_KEY)
        if ratings_path and not movies_path:
            raise ValueError("FeatureSnapshot: raw ratings need the raw movies too (a rating of a movie not in "
                             f"movies.csv is not a sample); {spec.MOVIES_PATTERN_KEY} is empty")
        example_patterns = _example_patterns(examples)

        def sources(pipeline: beam.Pipeline):
            samples = None if ratings_path else beam_snapshot.sample_ratings(pipeline, example_patterns)
            movies = (beam_snapshot.file_movies(pipeline, fileio.glob(movies_path)) if movies_path
                      else beam_snapshot.sample_movies(samples))
            ratings = (beam_snapshot.raw_ratings(pipeline, raw_ratings.paths, beam.pvalue.AsDict(movies),
                                                 exec_properties.get(spec.AS_OF_KEY) or "") if ratings_path
                       else samples | "SampleRating" >> beam.MapTuple(lambda rating, _: rating))
            return ratings, movies

        shards = shuffle_shards.shard_count(
            exec_properties.get(spec.SHUFFLE_SHARDS_KEY) or 0, raw_ratings.paths if ratings_path else example_patterns,
            self._make_beam_pipeline().options,
            shuffle_shards.RATINGS_BYTES_PER_SHARD if ratings_path else SAMPLE_BYTES_PER_SHARD)
        logging.info("FeatureSnapshot: %d shuffle shard(s)", shards)
        beam_snapshot.run(self._make_beam_pipeline, sources, shards, output.uri, movies_path or "the samples")

        history = list(training_ratings(examples))
        back_test = cold_start.back_test(history)
        logging.info("FeatureSnapshot: cold start %s", back_test.summary())
        will_rate_test = will_rate.back_test(history)
        logging.info("FeatureSnapshot: will rate %s", will_rate_test.summary())
        # From every rating, as the features are; written whichever estimate is chosen, so a snapshot can serve both
        users = list(snapshot.users(output.uri))
        for prefix, movies_of in snapshot.NEIGHBOUR_FILES.items():
            snapshot.write_neighbours(output.uri, will_rate.neighbours(
                {user[features.USER_KEY]: user[movies_of] for user in users}), prefix)
        manifest = snapshot.write_manifest(output.uri, ratings_source=ratings_path or examples.uri,
                                           movies_source=movies_path or examples.uri,
                                           **{snapshot.COLD_START_BACK_TEST: back_test.to_dict(),
                                              snapshot.WILL_RATE_BACK_TEST: will_rate_test.to_dict()})
        for key in (snapshot.FORMAT_VERSION_KEY, snapshot.USERS_PREFIX, snapshot.MOVIES_PREFIX, snapshot.RATINGS,
                    snapshot.AS_OF):
            output.set_int_custom_property(key, manifest[key] or 0)  # on the artifact too
        output.set_string_custom_property(snapshot.COLD_START_BACK_TEST, back_test.chosen)
        output.set_string_custom_property(snapshot.WILL_RATE_BACK_TEST, will_rate_test.chosen)
        logging.info("Feature snapshot %s: %s", output.uri, manifest)
