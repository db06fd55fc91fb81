"""A three-movie feature snapshot's entries, built with recommender.snapshot as FeatureSnapshot builds them, and a
snapshot's manifest rewritten to another format version."""
from __future__ import annotations

import json
import os

from models import sample_features
from recommender import snapshot

TITLES = {1: ("Toy Story (1995)", "Animation|Children|Comedy"), 2: ("Heat (1995)", "Action|Crime|Thriller"),
          3: ("Untitled", "(no genres listed)")}  # no year, no genres: the missing-value cases
USER_ID = 7


def snapshot_entries():
    """({movie id: movie entry}, user 7's entry) over three ratings; movie 3 has none."""
    movies = {m: sample_features.parse_movie(m, title, genres) for m, (title, genres) in TITLES.items()}
    ratings = [sample_features.Rating(USER_ID, 1, 4.5, 100), sample_features.Rating(8, 1, 3.0, 200),
               sample_features.Rating(USER_ID, 2, 2.0, 300)]
    movie_entries = {m: snapshot.movie_entry(movie, TITLES[m][0], [r for r in ratings if r.movie_id == m])
                     for m, movie in movies.items()}
    return movie_entries, snapshot.user_entry(USER_ID, [r for r in ratings if r.user_id == USER_ID], movies)


def set_format_version(snapshot_dir: str, version) -> None:
    """Rewrites the snapshot's manifest with format_version `version` (None: without one)."""
    path = os.path.join(snapshot_dir, snapshot.MANIFEST_FILE)
    with open(path) as f:
        manifest = json.load(f)
    manifest.pop(snapshot.FORMAT_VERSION_KEY)
    if version is not None:
        manifest[snapshot.FORMAT_VERSION_KEY] = version
    with open(path, "w") as f:
        json.dump(manifest, f)
