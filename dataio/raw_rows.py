"""Rows of MovieLens' ratings.csv and movies.csv, parsed and validated one at a time, and which ratings files a
data root holds.

A malformed row raises `BadRow` with a reason (a short key, counted in SampleGen's report) and a detail that
names the offending value; the caller adds file and line.
"""
from __future__ import annotations

import csv
import datetime
import glob
import math
import os
import re
import time
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

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


def rating_time_range(paths: Sequence[str]) -> Optional[TimestampRange]:
    """The first and last rating time of local ratings files (their last column); None when they have no data
    row. Rows that do not parse are left to SampleGen, which reports them with their line."""
    first, last = None, None
    for path in paths:
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



# Raw ratings are one file, or span files that grow over time: TFX's {SPAN} convention (an integer in the name,
# e.g. ratings-0001.csv or ratings-20260101.csv), never both. RATINGS_GLOB matches both layouts: SampleGen's input
# names it, so its cache key (TFX's fingerprint of the files) changes when a span arrives.
RATINGS_FILE = "ratings.csv"
RATINGS_SPAN_PATTERN = "ratings-{SPAN}.csv"
RATINGS_GLOB = "ratings*.csv"
MOVIES_FILE = "movies.csv"
_SPAN_NAME = re.compile(r"ratings-(\d+)\.csv")


class RatingsFiles(NamedTuple):
    """The ratings files to read, oldest span first; `spans` is () for a single ratings.csv."""
    paths: Tuple[str, ...]
    spans: Tuple[int, ...] = ()
    present: int = 0  # span files under the data root, read or not (the window leaves the older out)

    @property
    def newest(self) -> int:
        """The newest span read: the Examples' `span` (0 without spans, as TFX's ExampleGen records then)."""
        return self.spans[-1] if self.spans else 0

    def missing(self) -> Tuple[int, ...]:
        """Spans absent between the first and the newest read (a day number 20260131 is followed by 20260201)."""
        return missing_spans(self.spans)

    def describe(self) -> str:
        """What a summary says: "ratings.csv", or the spans read and those missing between them."""
        if not self.spans:
            return os.path.basename(self.paths[0]) if len(self.paths) == 1 else f"{len(self.paths)} files"
        text = f"spans {span_ranges(self.spans)} ({len(self.spans)} of {self.present} span files"
        text += f", the newest {len(self.spans)})" if len(self.spans) < self.present else ")"
        missing = self.missing()
        return text + (f"; missing: {span_ranges(missing)}" if missing else "")


def _as_dates(spans: Sequence[int]) -> Optional[List[datetime.date]]:
    """Spans as dates when every one reads as YYYYMMDD, else None."""
    try:
        return [datetime.date(s // 10000, s // 100 % 100, s % 100) for s in spans] if all(
            10000101 <= s <= 99991231 for s in spans) else None
    except ValueError:
        return None


def missing_spans(spans: Sequence[int]) -> Tuple[int, ...]:
    """Spans absent between sorted `spans`, on their own step (the smallest difference between two of them: 1,
    or 7 for weekly spans); in days when every span is a date number (20260131 is followed by 20260201)."""
    dates = _as_dates(spans)
    keys = [d.toordinal() for d in dates] if dates is not None else list(spans)
    if len(keys) < 2:
        return ()
    step = min(b - a for a, b in zip(keys, keys[1:]))
    absent = [k for a, b in zip(keys, keys[1:]) for k in range(a + step, b, step)]
    if dates is None:
        return tuple(absent)
    return tuple(int(datetime.date.fromordinal(k).strftime("%Y%m%d")) for k in absent)


def span_ranges(spans: Sequence[int]) -> str:
    """1,2,3,5 -> "1-3,5" (consecutive days of date numbers as one range); `parse_span_ranges` reads it back."""
    if not spans:
        return ""
    dates = _as_dates(spans)
    keys = [d.toordinal() for d in dates] if dates is not None else list(spans)
    runs, start = [], 0
    for i in range(1, len(spans) + 1):
        if i == len(spans) or keys[i] != keys[i - 1] + 1:
            runs.append(str(spans[start]) if start == i - 1 else f"{spans[start]}-{spans[i - 1]}")
            start = i
    return ",".join(runs)


def parse_span_ranges(text: str) -> Tuple[int, ...]:
    spans = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        spans += _span_range(int(first), int(last or first))
    return tuple(spans)


def _span_range(first: int, last: int) -> List[int]:
    dates = _as_dates([first, last])
    if dates is None:
        return list(range(first, last + 1))
    return [int((dates[0] + datetime.timedelta(days=d)).strftime("%Y%m%d")) for d in range((dates[1] - dates[0]).days
                                                                                           + 1)]


def ratings_files(data_root: str, found: Iterable[str], span_window: int = 0,
                  spans: Optional[Sequence[int]] = None) -> RatingsFiles:
    """The ratings files to read among `found` (what RATINGS_GLOB matched under data_root): ratings.csv, or the
    span files, all of them or the newest `span_window` (0: all; TFX's LatestSpan(n) counts the spans present the
    same way), or exactly `spans` (what SampleGen read, for the readers after it). ValueError says what is wrong
    with the data root and what to do."""
    found = sorted(found)
    if not found:
        raise ValueError(f"no ratings in {data_root}: a data root holds {RATINGS_FILE} or span files "
                         f"{RATINGS_SPAN_PATTERN} (`sparrow-tfx download movielens` fetches a release)")
    plain = [p for p in found if os.path.basename(p) == RATINGS_FILE]
    by_span, bad = {}, []
    for path in found:
        match = _SPAN_NAME.fullmatch(os.path.basename(path))
        if match:
            span = int(match.group(1))
            if span in by_span:
                raise ValueError(f"{by_span[span]} and {path} are both span {span}: keep one")
            by_span[span] = path
        elif path not in plain:
            bad.append(path)
    if bad:
        raise ValueError(f"{bad[0]} is neither {RATINGS_FILE} nor a span file {RATINGS_SPAN_PATTERN} (SPAN an "
                         f"integer, e.g. ratings-0001.csv or ratings-20260101.csv): rename it, or move it out of "
                         f"{data_root}" + (f" ({len(bad) - 1} more such files)" if len(bad) > 1 else ""))
    ordered = sorted(by_span)
    if plain and ordered:
        names = " .. ".join(dict.fromkeys(os.path.basename(by_span[s]) for s in (ordered[0], ordered[-1])))
        raise ValueError(
            f"{data_root} holds both {RATINGS_FILE} and span files {RATINGS_SPAN_PATTERN} ({names}, "
            f"{len(ordered)} files): the ratings are one file or spans, not both; move {RATINGS_FILE}'s ratings "
            "into a span numbered before the first, or remove the span files")
    if plain:
        return RatingsFiles(tuple(plain))
    if spans:
        absent = sorted(set(spans) - set(by_span))
        if absent:
            raise ValueError(f"span files {span_ranges(absent)} ({RATINGS_SPAN_PATTERN}) that SampleGen read are "
                             f"no longer in {data_root}")
        chosen = sorted(set(spans))
    else:
        chosen = ordered[-span_window:] if span_window else ordered
    return RatingsFiles(tuple(by_span[s] for s in chosen), tuple(chosen), len(ordered))


def local_ratings_files(data_root: str, span_window: int = 0) -> RatingsFiles:
    """`ratings_files` of a local data root."""
    return ratings_files(data_root, glob.glob(os.path.join(glob.escape(data_root), RATINGS_GLOB)), span_window)

_DEFAULT_TIMESTAMPS = TimestampRange.of(DEFAULT_EARLIEST_RATING_DATE, DEFAULT_LATEST_RATING_DAYS_AHEAD)
