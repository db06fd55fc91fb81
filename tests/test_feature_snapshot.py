"""FeatureSnapshot's executor on small real data: its features "as of now" are the features SampleGen gives a
sample made after every rating, so training and serving features cannot drift apart. The snapshot names its format,
and a format this code does not read is one clear error to every reader."""
from __future__ import annotations

import collections
import dataclasses
import datetime
import os
import re
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from components.feature_snapshot import spec
from components.sample_gen.example_encoding import to_example
from dataio.examples import read_samples
from models import features, sample_features
from pipeline.datasets import synthetic
from recommender import cold_start, snapshot
from tests.helpers.executors import run_sample_gen, run_snapshot
from tests.helpers.snapshots import set_format_version
from tests.serving_data import as_in_example

pytestmark = pytest.mark.slow
USER_COLUMNS = tuple(sample_features.user_aggregates([], {}))
MOVIE_COLUMNS = tuple(snapshot.movie_entry(sample_features.Movie(1, None, ()), "", [])[snapshot.FEATURES])


def training_ratings(world: "World") -> list:
    """The ratings of the training split's samples (sampled negatives left out), read apart from the executor."""
    return [sample_features.Rating(s[features.USER_KEY], s[features.MOVIE_KEY], s[features.RATING_KEY],
                                   s[features.TIME_KEY])
            for s in read_samples(artifact_utils.get_split_uri([world.examples], spec.TRAIN_SPLIT))
            if s.get(features.RATED_KEY) != 0]


def samples_of(examples) -> list:
    return [sample for split in artifact_utils.decode_split_names(examples.split_names)
            for sample in read_samples(artifact_utils.get_split_uri([examples], split))]


@dataclasses.dataclass
class World:
    raw_dir: str
    world: synthetic.World
    probe_time: int
    examples: standard_artifacts.Examples  # SampleGen's samples of the ratings plus one probe rating per user


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """A small synthetic world, and SampleGen's samples of it with one more rating per user after all others.

    A probe's sample sees every real rating (equal timestamps do not see each other), so its user and movie
    features are the features "as of now" that the snapshot of the real ratings must hold.
    """
    root = tmp_path_factory.mktemp("snapshot")
    data = synthetic.generate_world(num_ratings=800, seed=11)
    raw_dir = str(root / "raw")
    synthetic.write_movielens(data, raw_dir)
    probe_time = max(r.timestamp for r in data.ratings) + 1
    users = sorted({r.user_id for r in data.ratings})
    probes = [sample_features.Rating(u, 1 + u % len(data.movies), 4.0, probe_time) for u in users]
    probed_dir = str(root / "raw-probed")
    synthetic.write_movielens(dataclasses.replace(data, ratings=data.ratings + probes), probed_dir)
    return World(raw_dir, data, probe_time, run_sample_gen(probed_dir, str(root / "samples")))


@pytest.fixture(scope="module")
def raw_snapshot(world, tmp_path_factory):
    """The snapshot of the real ratings (raw mode: the samples are only its upstream, not read)."""
    return run_snapshot(world.examples, str(tmp_path_factory.mktemp("raw-snapshot")), input_base=world.raw_dir)


def test_snapshot_holds_the_features_a_sample_after_every_rating_gets(world, raw_snapshot):
    users = {entry[features.USER_KEY]: entry for entry in snapshot.users(raw_snapshot.uri)}
    movies = snapshot.load_movies(raw_snapshot.uri)
    probes = [s for s in samples_of(world.examples) if s["timestamp"] == world.probe_time]
    assert len(probes) == len(users) > 0
    for sample in probes:
        user = users[sample[features.USER_KEY]][snapshot.FEATURES]
        movie = movies[sample[features.MOVIE_KEY]][snapshot.FEATURES]
        assert {c: sample[c] for c in USER_COLUMNS} == as_in_example(user), f"user {sample[features.USER_KEY]}"
        assert {c: sample[c] for c in MOVIE_COLUMNS} == as_in_example(movie), f"movie {sample[features.MOVIE_KEY]}"


def test_snapshot_counts_every_rating_and_every_movie(world, raw_snapshot):
    by_user = collections.defaultdict(list)
    for r in world.world.ratings:
        by_user[r.user_id].append(r)
    movies = snapshot.load_movies(raw_snapshot.uri)
    assert set(movies) == set(world.world.movies)  # unrated movies are candidates too
    rated = collections.Counter(r.movie_id for r in world.world.ratings)
    for movie_id, entry in movies.items():
        assert entry[snapshot.FEATURES]["movieRatingCount"] == rated[movie_id]
        assert entry[snapshot.TITLE] == world.world.titles[movie_id]
        assert entry[snapshot.GENRES] == list(world.world.movies[movie_id].genres)
    for entry in snapshot.users(raw_snapshot.uri):
        own = by_user[entry[features.USER_KEY]]
        assert entry[snapshot.RATED] == sorted({r.movie_id for r in own})
        assert entry[snapshot.LIKED] == sorted({r.movie_id for r in own if r.rating >= 3.5})
        assert entry[snapshot.FEATURES]["userRatingCount"] == min(len(own), sample_features.USER_WINDOW)
    manifest = snapshot.load_manifest(raw_snapshot.uri)
    assert manifest[snapshot.RATINGS] == len(world.world.ratings)
    assert manifest[snapshot.AS_OF] == world.probe_time - 1
    assert raw_snapshot.get_int_custom_property(snapshot.USERS_PREFIX) == len(by_user)


def test_snapshot_holds_the_cold_start_back_test_of_the_training_split_and_its_scores(world, raw_snapshot):
    """The choice is the catalogue evaluation's (the same back-test over the training samples); each movie's
    scores are as of the latest rating of all."""
    manifest = snapshot.load_manifest(raw_snapshot.uri)
    train = training_ratings(world)
    assert manifest[snapshot.COLD_START_BACK_TEST] == cold_start.back_test(train).to_dict()
    assert raw_snapshot.get_string_custom_property(snapshot.COLD_START_BACK_TEST) in cold_start.RANKERS
    times = collections.defaultdict(list)
    for r in world.world.ratings:
        times[r.movie_id].append(r.timestamp)
    for movie_id, entry in snapshot.load_movies(raw_snapshot.uri).items():
        assert entry[snapshot.COLD_START] == cold_start.movie_scores(times[movie_id], manifest[snapshot.AS_OF])


def test_snapshot_of_the_samples_alone_misses_what_no_sample_was_made_of(world, tmp_path):
    """Without raw files the ratings come from the samples: each user's first rating (no sample: no history)
    is missing, which is why the pipeline gives the snapshot the raw files."""
    from_samples = run_snapshot(world.examples, str(tmp_path / "from-samples"))
    samples = samples_of(world.examples)
    users = {r.user_id for r in world.world.ratings}
    probes = len(users)
    assert len(samples) == len(world.world.ratings) + probes - len(users)  # each user's first rating: no sample
    assert snapshot.load_manifest(from_samples.uri)[snapshot.RATINGS] == len(samples)
    for entry in snapshot.users(from_samples.uri):
        assert entry[snapshot.RATINGS] == sum(1 for s in samples if s[features.USER_KEY] == entry[features.USER_KEY])
    assert {entry[snapshot.TITLE] for entry in snapshot.load_movies(from_samples.uri).values()} == {""}


def test_titles_from_movies_csv_with_ratings_from_the_samples(world, tmp_path):
    output = run_snapshot(world.examples, str(tmp_path / "titled"), input_base=world.raw_dir, ratings_pattern="")
    movies = snapshot.load_movies(output.uri)
    assert set(movies) == set(world.world.movies)
    assert all(entry[snapshot.TITLE] == world.world.titles[movie_id] for movie_id, entry in movies.items())
    assert snapshot.load_manifest(output.uri)["movies_source"].endswith("movies.csv")


def test_same_data_gives_the_same_digest(world, raw_snapshot, tmp_path):
    again = run_snapshot(world.examples, str(tmp_path / "again"), input_base=world.raw_dir)
    digests = [snapshot.load_manifest(output.uri)[snapshot.DIGEST] for output in (again, raw_snapshot)]
    assert digests[0] == digests[1]


def test_as_of_reads_no_later_rating_of_the_raw_files(world, raw_snapshot, tmp_path):
    """The probed files hold one more rating per user at probe_time: as of that moment, the snapshot is the one
    of the files without them."""
    probed_dir = str(Path(world.raw_dir).parent / "raw-probed")
    as_of = datetime.datetime.fromtimestamp(world.probe_time, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    probed, as_of_probes = (run_snapshot(world.examples, str(tmp_path / name), input_base=probed_dir, as_of=moment)
                            for name, moment in (("probed", ""), ("as-of", as_of)))
    expected = snapshot.load_manifest(raw_snapshot.uri)
    assert snapshot.load_manifest(as_of_probes.uri)[snapshot.DIGEST] == expected[snapshot.DIGEST]
    assert snapshot.load_manifest(probed.uri)[snapshot.RATINGS] == expected[snapshot.RATINGS] + len(
        {r.user_id for r in world.world.ratings})


@pytest.mark.parametrize("raw", [True, False], ids=["raw ratings", "ratings of the samples"])
def test_sharded_passes_make_what_one_pipeline_makes(world, tmp_path, raw):
    """On the direct runner large inputs shuffle a hash shard per pass: the same entries (the digest covers every
    line), a file of users and one of movies per shard, and no intermediates left."""
    input_base = world.raw_dir if raw else ""
    one, sharded = (run_snapshot(world.examples, str(tmp_path / f"shards-{shards}"), input_base=input_base,
                                 shuffle_shards=shards) for shards in (1, 3))
    one_manifest, sharded_manifest = (snapshot.load_manifest(output.uri) for output in (one, sharded))
    assert one_manifest[snapshot.RATINGS] > 0 and one_manifest[snapshot.DIGEST] == sharded_manifest[snapshot.DIGEST]
    names = sorted(os.listdir(sharded.uri))
    assert [n for n in names if n.startswith(snapshot.USERS_PREFIX)] == [
        f"users-{shard:05d}-of-00003-00000-of-00001.jsonl" for shard in range(3)]
    assert len([n for n in names if n.startswith(snapshot.MOVIES_PREFIX)]) == 3
    assert set(names) - {n for n in names if n.endswith(snapshot.ENTRY_SUFFIX)} == {snapshot.MANIFEST_FILE}


def test_a_repeated_rating_counts_once_in_every_shard_layout(world, raw_snapshot, tmp_path):
    """ratings.csv with some rows twice (same user, movie and time; one with a higher rating): each is counted
    once, with its lower rating, whether the repeats meet in one pipeline or in a shard's pass."""
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "movies.csv").write_text((Path(world.raw_dir) / "movies.csv").read_text())
    ratings_csv = (Path(world.raw_dir) / "ratings.csv").read_text()
    (raw_dir / "ratings.csv").write_text(ratings_csv + "".join(
        f"{r.user_id},{r.movie_id},{min(r.rating + 1.0, 5.0)},{r.timestamp}\n" for r in world.world.ratings[::50]))
    without_repeats = snapshot.load_manifest(raw_snapshot.uri)
    for shards in (1, 3):
        output = run_snapshot(world.examples, str(tmp_path / f"shards-{shards}"), input_base=str(raw_dir),
                              shuffle_shards=shards)
        manifest = snapshot.load_manifest(output.uri)
        assert (manifest[snapshot.RATINGS], manifest[snapshot.DIGEST]) == (
            len(world.world.ratings), without_repeats[snapshot.DIGEST])


def test_a_sample_without_user_id_is_named_with_its_file(tmp_path):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train"])
    split_dir = artifact_utils.get_split_uri([examples], "train")
    os.makedirs(split_dir)
    sample = {name: None for name in features.COLUMN_NAMES}
    sample.update(movieId=3, rating=4.0, timestamp=100, movieGenre1="Drama")
    with tf.io.TFRecordWriter(os.path.join(split_dir, "data.gz"), options="GZIP") as writer:
        writer.write(to_example(sample))
    with pytest.raises(Exception, match=r"data\.gz: a sample has no userId \(userId=None, movieId=3\)"):
        run_snapshot(examples, str(tmp_path / "out"))


def test_raw_ratings_need_raw_movies_and_existing_files(world, tmp_path):
    with pytest.raises(ValueError, match="raw ratings need the raw movies"):
        run_snapshot(world.examples, str(tmp_path / "a"), input_base=world.raw_dir, movies_pattern="")
    with pytest.raises(FileNotFoundError, match=r"no file matches .*/nowhere/ratings\.csv"):
        run_snapshot(world.examples, str(tmp_path / "b"), input_base=str(tmp_path / "nowhere"))


def test_snapshot_holds_the_will_rate_back_test_of_the_training_split_and_every_ratings_neighbours(world, raw_snapshot):
    from recommender import will_rate

    manifest = snapshot.load_manifest(raw_snapshot.uri)
    train = training_ratings(world)
    assert manifest[snapshot.WILL_RATE_BACK_TEST] == will_rate.back_test(train).to_dict()
    assert raw_snapshot.get_string_custom_property(snapshot.WILL_RATE_BACK_TEST) == \
        manifest[snapshot.WILL_RATE_BACK_TEST]["chosen"]
    rated, liked = collections.defaultdict(list), collections.defaultdict(list)
    for r in world.world.ratings:  # every rating, the first ones (no sample) included
        rated[r.user_id].append(r.movie_id)
        if r.rating >= 3.5:
            liked[r.user_id].append(r.movie_id)
    served = snapshot.load_neighbours(raw_snapshot.uri)
    assert served == will_rate.neighbours(rated) and served
    assert manifest[snapshot.NEIGHBOURS_PREFIX] == len(served)
    served_liked = snapshot.load_neighbours(raw_snapshot.uri, snapshot.LIKED_NEIGHBOURS_PREFIX)
    assert served_liked == will_rate.neighbours(liked) and served_liked != served
    assert manifest[snapshot.LIKED_NEIGHBOURS_PREFIX] == len(served_liked)


def test_the_catalogue_evaluation_serves_the_snapshots_back_tests_which_are_its_own_over_the_same_samples(
        world, raw_snapshot):
    from components.catalogue_eval import executor as catalogue_executor
    from recommender import catalogue

    served_cold_start, served_will_rate = catalogue_executor.served_back_tests(
        snapshot.load_manifest(raw_snapshot.uri))
    own = catalogue.Catalogue.from_samples(*(read_samples(artifact_utils.get_split_uri([world.examples], split))
                                             for split in ("train", "eval")))
    assert (served_cold_start, served_will_rate) == (own.cold_start_back_test, own.will_rate_back_test)
    assert served_will_rate.users > 0 and served_cold_start.users > 0


def test_read_samples_gives_each_examples_values_as_its_proto_holds_them_and_only_the_columns_asked(world):
    split_dir = artifact_utils.get_split_uri([world.examples], spec.TRAIN_SPLIT)
    expected = []
    for path in sorted(tf.io.gfile.glob(os.path.join(split_dir, "*.gz"))):
        for record in tf.data.TFRecordDataset([path], compression_type="GZIP").as_numpy_iterator():
            feature = tf.train.Example.FromString(record).features.feature
            values = {name: feature[name].WhichOneof("kind") and getattr(feature[name], feature[name].WhichOneof(
                "kind")).value for name in feature}
            expected.append({c.name: (v[0].decode() if isinstance(v[0], bytes) else v[0]) if v else None
                             for c in features.EXAMPLE_COLUMNS for v in [values.get(c.name)]})
    found = list(read_samples(split_dir, batch_size=7))  # batches that do not divide the examples
    assert found == expected and any(None in sample.values() for sample in found)
    assert [type(v) for v in found[0].values()] == [type(v) for v in expected[0].values()]
    columns = (features.USER_KEY, features.MOVIE_GENRE_KEYS[2], features.RATED_KEY)
    assert list(read_samples(split_dir, columns)) == [{c: s[c] for c in columns} for s in expected]


def test_the_snapshot_names_its_format_in_the_manifest_and_on_the_artifact(raw_snapshot):
    assert snapshot.load_manifest(raw_snapshot.uri)[snapshot.FORMAT_VERSION_KEY] == snapshot.FORMAT_VERSION == 3
    assert raw_snapshot.get_int_custom_property(snapshot.FORMAT_VERSION_KEY) == snapshot.FORMAT_VERSION
    # format 3's fields: when each user rated each of their movies, each movie's recent popularity
    users = list(snapshot.users(raw_snapshot.uri))
    assert all(len(u[snapshot.RATED_AT]) == len(u[snapshot.RATED]) for u in users)
    assert max(max(u[snapshot.RATED_AT]) for u in users if u[snapshot.RATED]) == \
        snapshot.load_manifest(raw_snapshot.uri)[snapshot.AS_OF]
    popularity = snapshot.recent_popularity(snapshot.load_movies(raw_snapshot.uri).values())
    assert min(popularity.values()) >= 0.0 and max(popularity.values()) > 1.0


def test_the_format_is_part_of_the_components_cache_key(world):
    """An execution property: a cached snapshot of another format is not reused, a run writes the current one."""
    from tfx.types import channel_utils

    from components.feature_snapshot.component import FeatureSnapshot

    node = FeatureSnapshot(examples=channel_utils.as_channel([world.examples]))
    assert node.exec_properties[spec.FORMAT_VERSION_KEY] == snapshot.FORMAT_VERSION


def with_format_version(raw_snapshot, target: str, version) -> str:
    """A copy of the snapshot whose manifest has format_version `version` (None: none)."""
    shutil.copytree(raw_snapshot.uri, target)
    set_format_version(target, version)
    return target


@pytest.mark.parametrize("version, found", [
    (None, "no format_version (it was written before snapshots had one)"), (999, "format_version 999"),
    (2, "format_version 2"), ("3", "format_version '3'"), (True, "format_version True")])
def test_a_format_this_code_does_not_read_is_one_clear_error(raw_snapshot, tmp_path, version, found):
    unreadable = with_format_version(raw_snapshot, str(tmp_path / "snapshot"), version)
    with pytest.raises(snapshot.SnapshotFormatError) as error:
        snapshot.load_manifest(unreadable)
    assert isinstance(error.value, ValueError)
    assert str(error.value) == (
        f"feature snapshot {unreadable} has {found}; this code reads format_version 3. Re-run the pipeline so that "
        "FeatureSnapshot writes the current format and the model is pushed with it: `sparrow-tfx run` with the same "
        "data (on Kubeflow, run the pipeline again).")
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        snapshot.load_manifest(str(tmp_path))


def test_the_catalogue_evaluation_stops_at_a_snapshot_in_a_format_this_code_does_not_read(world, raw_snapshot,
                                                                                          tmp_path):
    from components.catalogue_eval import executor as catalogue_executor
    from components.catalogue_eval import spec as catalogue_spec

    unreadable = spec.SnapshotArtifact()
    unreadable.uri = with_format_version(raw_snapshot, str(tmp_path / "snapshot"), 999)
    model, evaluation = standard_artifacts.Model(), catalogue_spec.CatalogueEvaluation()
    model.uri, evaluation.uri = str(tmp_path / "model"), str(tmp_path / "evaluation")
    with pytest.raises(snapshot.SnapshotFormatError, match=re.escape(f"{unreadable.uri} has format_version 999")):
        catalogue_executor.Executor().Do(
            {catalogue_spec.EXAMPLES_KEY: [world.examples], catalogue_spec.MODEL_KEY: [model],
             catalogue_spec.FEATURE_SNAPSHOT_KEY: [unreadable]},
            {catalogue_spec.EVALUATION_KEY: [evaluation]},
            {catalogue_spec.TOP_N_KEY: 10, catalogue_spec.MIN_LIKED_KEY: 1, catalogue_spec.MIN_RATIO_KEY: 0.9})
    assert not os.path.exists(evaluation.uri)
