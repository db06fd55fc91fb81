"""`sparrow-tfx recommend`: the newest pushed model's top movies for a user, with features as of now."""
import datetime
import json
import os
import sys

from models import features
from pipeline import configs
from pipeline.cli.commands import arguments


def _movie_ids(text: str):
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"error: --candidates expects comma-separated movieIds, got {text!r}") from None


def register(subparsers) -> None:
    parser = subparsers.add_parser("recommend", help="top movies for a user from the newest pushed model")
    parser.add_argument("--user", type=int, required=True, help=features.USER_KEY)
    parser.add_argument("--top", type=arguments.positive_int, default=10, help="how many movies to show")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--serving-dir", help="serving base directory (<dir>/<version>/saved_model.pb)")
    where.add_argument("--work-dir", default=configs.DEFAULT_WORK_DIR,
                       help="work directory of `sparrow-tfx run`; its serving/ is used (default: .work)")
    parser.add_argument("--candidates", type=_movie_ids, metavar="ID,ID,...",
                        help="movieIds to score (default: every movie the user has not rated)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=handle)


def _utc(timestamp) -> str:
    if timestamp is None:
        return "no ratings"
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def as_json(served, result) -> dict:
    """The --json output (`serve.as_json`, which `sparrow-tfx serve` answers /recommend with too)."""
    from recommender import serve

    return serve.as_json(served, result)


def lines(served, result) -> list:
    from recommender import cold_start, snapshot, will_rate

    manifest = served.manifest
    out = [f"model version {served.version} ({served.version_dir})",
           f"features as of {_utc(manifest[snapshot.AS_OF])}: {manifest[snapshot.RATINGS]:,} ratings, "
           f"{manifest[snapshot.USERS_PREFIX]:,} users, {manifest[snapshot.MOVIES_PREFIX]:,} movies"]
    if served.policy is not None:
        out.append(f"serving policy (first-run fallback): {served.policy.summary()}")
    if result.known_user:
        f = result.user_features
        genres = ', '.join(g for g in (f[key] for key in features.USER_GENRE_KEYS) if g) or 'none'
        out.append(f"user {result.user_id}: {result.rated} movies rated; last {f[features.USER_RATING_COUNT_KEY]} "
                   f"ratings average {f[features.USER_AVG_RATING_KEY]}, top genres {genres}")
    if result.fallback is not None:
        out += fallback_lines(result)
    elif result.will_rate is not None:
        if result.items and result.items[0].rate_probability is not None:
            out.append(f"ranked ({result.path}) by the model's P(like) x P(rate) heads")
        else:
            back_test = will_rate.BackTest.from_dict(result.will_rate)
            out.append(f"ranked ({result.path}) by the model's P(like | rated) x "
                       f"{will_rate.DESCRIPTIONS[back_test.chosen]}")
            out.append(f"  chosen: {back_test.summary()}")
    else:
        back_test = cold_start.BackTest.from_dict(result.cold_start)
        out.append(f"user {result.user_id} is unknown: no ratings in the feature snapshot; cold start "
                   f"({result.path}): {cold_start.DESCRIPTIONS[back_test.chosen]} as of the features' time, "
                   f"which beat the model for users without ratings")
        out.append(f"  chosen: {back_test.summary()}")
    out.append(f"top {len(result.items)} of {result.candidates:,} candidates:")
    out.append(f"  {'rank':>4}  {'score':>9}  {'P(like)':>7}  {'P(rate)':>7}  {features.MOVIE_KEY:>7}  "
               f"{'title':<50}  genres")
    for rank, item in enumerate(result.items, start=1):
        title = item.title or f"movie {item.movie_id}"
        liked, rate = ("-" if p is None else f"{p:.4f}" for p in (item.probability, item.rate_probability))
        out.append(f"  {rank:>4}  {item.score:>9.4g}  {liked:>7}  {rate:>7}  {item.movie_id:>7}  {title[:50]:<50}  "
                   f"{'|'.join(item.genres)}")
    how = ("ranked by the fallback list's score" if result.fallback is not None else
           "in one batched serve_features call" if result.rated else "ranked by the cold-start score")
    out.append(f"latency: {result.candidates:,} candidates {how}: "
               f"{result.seconds_first_call * 1000:.1f} ms first call, {result.seconds_warm_call * 1000:.1f} ms warm")
    return out


def fallback_lines(result) -> list:
    """Why a user gets a popularity list on this path: the version's serving policy and its numbers."""
    from recommender import cold_start, serving_policy

    fallback = result.fallback
    listed = fallback["list"]
    figures = ", ".join(f"{name} {value:.4f}" for name, value in sorted(
        fallback["figures"].items(), key=lambda item: (-item[1], item[0])))
    measured = (f"{fallback['metric']} over the first run's {fallback['users']} eval "
                f"{serving_policy.LABELS[serving_policy.WITH_HISTORY if result.rated else serving_policy.COLD_START]}"
                f": {figures}")
    if result.rated:
        first = (f"ranked ({result.path}) by {cold_start.DESCRIPTIONS[listed]} as of the features' time, not by the "
                 f"model: this version was pushed with a first-run fallback, since that list beat the model for "
                 f"users with ratings")
    else:
        first = (f"user {result.user_id} is unknown: no ratings in the feature snapshot; fallback ({result.path}): "
                 f"{cold_start.DESCRIPTIONS[listed]} as of the features' time, in place of the cold-start "
                 f"back-test's {fallback['instead_of']}: this version was pushed with a first-run fallback, since "
                 f"that list beat it for users without ratings")
    return [first, f"  measured: {measured}", f"  why a fallback: {fallback['reason']}"]


def handle(args) -> int:
    from recommender import serve

    base = args.serving_dir or configs.LocalPaths(os.path.abspath(args.work_dir)).serving_dir
    try:
        served = serve.load_newest(base)
        result = serve.recommend(served, args.user, args.top, args.candidates)
    except (FileNotFoundError, ValueError) as error:  # ValueError includes snapshot.SnapshotFormatError
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(as_json(served, result), indent=1) if args.json else "\n".join(lines(served, result)))
    return 0
