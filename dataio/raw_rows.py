"""Rows of MovieLens' ratings.csv and movies.csv, parsed and validated one at a time.

A malformed row raises `BadRow` with a reason (a short key, counted in SampleGen's report) and a detail that
names the offending value; the caller adds file and line.
"""
from __future__ import annotations

import csv
import datetime
import math
import time
from typing import List, NamedTuple, Optional, Sequence

from models import features, sample_features

RATINGS_HEADER = (features.USER_KEY, features.MOVIE_KEY, features.RATING_KEY, features.TIME_KEY)
MOVIES_HEADER = (features.MOVIE_KEY, "title", "genres")

# Reasons a row is rejected.
BAD_ENCODING = "bad_encoding"
WRONG_COLUMN_COUNT = "wrong_column_count"
BAD_NUMBER = "bad_number"
RATING_OUT_OF_RANGE = "rating_out_of_range"
UNKNOWN_MOVIE = "unknown_movie"
DUPLICATE_MOVIE = "duplicate_movie"
DUPLICATE_RATING = "duplicate_rating"
IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"

_SECONDS_PER_YEAR = 365.2425 * 86400
# A raw rating outside [earliest date, now + days ahead] is malformed (e.g. a timestamp in milliseconds): MovieLens
# began collecting ratings in 1995.
DEFAULT_EARLIEST_RATING_DATE = "1995-01-01"
DEFAULT_LATEST_RATING_DAYS_AHEAD = 1.0


class TimestampRange(NamedTuple):
    """The rating times (seconds since 1970, UTC) a raw rating may have; others are rejected as malformed."""
    earliest: int
    latest: int

    @classmethod
    def of(cls, earliest_date: str, days_ahead: float, now: Optional[float] = None) -> "TimestampRange":
        """From `earliest_date` (YYYY-MM-DD, UTC) to `days_ahead` days after `now` (default: this moment)."""
        earliest = datetime.datetime.strptime(earliest_date, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
        now = time.time() if now is None else now
        return cls(int(earliest.timestamp()), int(now + days_ahead * 86400))

    def check(self, timestamp: int) -> int:
        if self.earliest <= timestamp <= self.latest:
            return timestamp
        side = "before" if timestamp < self.earliest else "after"
        unit = " (milliseconds? ratings.csv has seconds since 1970)" if timestamp > self.latest * 100 else ""
        raise BadRow(IMPLAUSIBLE_TIMESTAMP,
                     f"timestamp {timestamp} (year {_year(timestamp)}) is {side} the plausible range "
                     f"{_utc_day(self.earliest)}..{_utc_day(self.latest)}{unit}; widen it with --sample-option "
                     f"earliest_rating_date=YYYY-MM-DD or latest_rating_days_ahead=DAYS")


AS_OF_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def as_of_timestamp(text: str) -> Optional[int]:
    """An as-of time, YYYY-MM-DD[THH:MM[:SS]] in UTC, as seconds since 1970; None for "" (every rating).
    ValueError names the formats."""
    if not text:
        return None
    for layout in AS_OF_FORMATS:
        try:
            moment = datetime.datetime.strptime(text, layout)
        except ValueError:
            continue
        return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp())
    raise ValueError(f"{text!r} is not a time YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS (UTC)")


def rating_time_range(path: str) -> Optional[TimestampRange]:
    """The first and last rating time of a local ratings file (its last column); None when it has no data row.
    Rows that do not parse are left to SampleGen, which reports them with their line."""
    first, last = None, None
    with open(path, "rb") as f:
        next(f, None)  # the header
        for line in f:
            try:
                timestamp = int(line.rsplit(b",", 1)[-1])
            except ValueError:
                continue
            first = timestamp if first is None or timestamp < first else first
            last = timestamp if last is None or timestamp > last else last
    return None if first is None else TimestampRange(first, last)


def _year(timestamp: int) -> int:
    return int(1970 + timestamp // _SECONDS_PER_YEAR)


def utc_time(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _utc_day(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")


class BadRow(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Rejection(NamedTuple):
    """A rejected input row: where it is and why."""
    path: str
    line: int
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.detail}"


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise BadRow(BAD_ENCODING, f"not UTF-8 ({e.reason} at byte {e.start})") from None


def check_header(path: str, raw: bytes, expected: Sequence[str]) -> None:
    """A wrong header means a wrong file, not a bad row: it stops the run."""
    found = raw.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if found != ",".join(expected):
        raise ValueError(f"{path}:1: expected the header {','.join(expected)!r}, found {found[:200]!r}")


def _cells(text: str, header: Sequence[str], quoted: bool) -> List[str]:
    cells = next(csv.reader([text])) if quoted else text.split(",")
    if len(cells) != len(header):
        raise BadRow(WRONG_COLUMN_COUNT,
                     f"expected {len(header)} columns ({','.join(header)}), found {len(cells)}: {text[:200]!r}")
    return cells


def _positive_int(text: str, column: str, minimum: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRow(BAD_NUMBER, f"{column} {text!r} is not an integer") from None
    if value < minimum:
        raise BadRow(BAD_NUMBER, f"{column} {value} is below {minimum}")
    return value


def parse_rating(text: str, timestamps: Optional[TimestampRange] = None) -> sample_features.Rating:
    """One ratings.csv line (userId,movieId,rating,timestamp); no quoting in this file. The timestamp must be in
    `timestamps` (default: SampleGenConfig's defaults, as of when this module was loaded)."""
    user, movie, rating, timestamp = _cells(text, RATINGS_HEADER, quoted=False)
    try:
        stars = float(rating)
    except ValueError:
        raise BadRow(BAD_NUMBER, f"rating {rating!r} is not a number") from None
    low, high = features.RATING_RANGE
    if not (math.isfinite(stars) and low <= stars <= high):
        raise BadRow(RATING_OUT_OF_RANGE, f"rating {rating} is outside [{low}, {high}]")
    seconds = (timestamps or _DEFAULT_TIMESTAMPS).check(_positive_int(timestamp, features.TIME_KEY, minimum=0))
    return sample_features.Rating(_positive_int(user, features.USER_KEY), _positive_int(movie, features.MOVIE_KEY),
                                  stars, seconds)


def parse_movie(text: str) -> sample_features.Movie:
    """One movies.csv line (movieId,title,genres); titles with commas are quoted."""
    movie_id, title, genres = _cells(text, MOVIES_HEADER, quoted=True)
    return sample_features.parse_movie(_positive_int(movie_id, features.MOVIE_KEY), title, genres)


_DEFAULT_TIMESTAMPS = TimestampRange.of(DEFAULT_EARLIEST_RATING_DATE, DEFAULT_LATEST_RATING_DAYS_AHEAD)
