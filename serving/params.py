"""Query parameters of the server's endpoints, checked before any work: a bad request is a BadRequest (a 4xx status,
a short error kind and a reason naming the parameter), never an exception from deeper down.

Integers are ASCII digits only (Python's int() also takes "1_000", " 7" and other scripts' digits), within int64,
the model's id type. Lists are comma-separated integers, without empty items.
"""
from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

MAX_TOP = 1000  # /recommend's top: at most this, and at most the version's catalogue
INT64_MAX = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]+")


class BadRequest(Exception):
    """A request the server will not answer: its status (4xx), an error kind and the reason, sent as JSON."""

    def __init__(self, status: int, error: str, reason: str):
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason

    def to_dict(self) -> dict:
        return {"status": self.status, "error": self.error, "reason": self.reason}


def single_values(items: Sequence[Tuple[str, str]], allowed: Sequence[str]) -> Dict[str, str]:
    """name -> value of a query's items; unknown and repeated names are refused."""
    values: Dict[str, str] = {}
    for name, value in items:
        if name not in allowed:
            raise BadRequest(400, "unknown_parameter",
                             f"unknown parameter {name!r}; this endpoint takes {', '.join(allowed)}")
        if name in values:
            raise BadRequest(400, "repeated_parameter", f"parameter {name!r} given more than once")
        values[name] = value
    return values


def _integer(name: str, text: str, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    if not _INTEGER.fullmatch(text):
        raise BadRequest(400, "not_an_integer", f"{name} must be an integer, got {text[:40]!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise BadRequest(400, "out_of_range", f"{name} must be from {minimum} to {maximum}, got {value}")
    return value


def required_integer(values: Mapping[str, str], name: str, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    if name not in values:
        raise BadRequest(400, "missing_parameter", f"parameter {name!r} is required")
    return _integer(name, values[name], minimum, maximum)


def optional_integer(values: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    return _integer(name, values[name], minimum, maximum) if name in values else default


def id_list(values: Mapping[str, str], name: str, required: bool, max_items: int) -> Optional[List[int]]:
    """A comma-separated list of non-negative int64 ids; None when absent and not required."""
    if name not in values:
        if required:
            raise BadRequest(400, "missing_parameter", f"parameter {name!r} is required (movieIds, comma-separated)")
        return None
    parts = values[name].split(",")
    if not values[name] or any(not part for part in parts):
        raise BadRequest(400, "bad_list", f"{name} must be comma-separated movieIds without empty items, "
                                          f"got {values[name][:40]!r}")
    if len(parts) > max_items:
        raise BadRequest(400, "out_of_range", f"{name} has {len(parts)} ids; at most {max_items}")
    bad = next((part for part in parts if not _INTEGER.fullmatch(part) or not 0 <= int(part) <= INT64_MAX), None)
    if bad is not None:
        raise BadRequest(400, "bad_list", f"{name} must be comma-separated movieIds (integers from 0), "
                                          f"got {bad[:40]!r}")
    return [int(part) for part in parts]


def known_movies(name: str, movie_ids: Sequence[int], catalogue: Mapping[int, object], version: str) -> None:
    unknown = [m for m in dict.fromkeys(movie_ids) if m not in catalogue]
    if unknown:
        shown = ", ".join(map(str, unknown[:10])) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise BadRequest(422, "unknown_movies", f"{name}: movieIds not in version {version}'s catalogue: {shown}")
