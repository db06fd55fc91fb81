"""Shuffles in hash shards, for the direct runner: it holds a shuffle's whole input in memory, so a job that
groups data by key runs as sequential pipelines ("passes") that each group one shard, with the shards in files in
between. The files hold fixed-width records (a key, then a packed value), one file per shard and bundle, written
without a shuffle and read back a shard at a time. SampleGen and FeatureSnapshot shuffle this way."""
from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import struct
import uuid
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

_KEY = struct.Struct("<q")


# shuffle_shards=0 on the direct runner: a shard per this many bytes of ratings files (~100k ratings of MovieLens)
RATINGS_BYTES_PER_SHARD = 2_500_000


def shard_count(requested: int, files: Sequence[str], options: PipelineOptions, bytes_per_shard: int) -> int:
    """`requested`, or when it is 0 (automatic): on the direct runner one shard per bytes_per_shard of `files`;
    on other runners (their shuffles spill to disk) one, a single pipeline."""
    if requested:
        return requested
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    if "direct" not in runner.lower():
        return 1
    size = sum(metadata.size_in_bytes for metadata in FileSystems.match(list(files))
               for metadata in metadata.metadata_list)
    return max(1, math.ceil(size / bytes_per_shard))


class Passes:
    """Runs each pass as a pipeline of make_pipeline() to its end, one after another; keeps their results."""

    def __init__(self, make_pipeline: Callable[[], beam.Pipeline]):
        self._make_pipeline = make_pipeline
        self.results: List[beam.runners.runner.PipelineResult] = []

    def __call__(self, build: Callable[[beam.Pipeline], None]) -> None:
        with self._make_pipeline() as pipeline:
            build(pipeline)
        self.results.append(pipeline.result)
        release_freed_memory()


def shard_of(key: int, shards: int) -> int:
    return (key * 2654435761) % (1 << 32) % shards  # Knuth's multiplicative hash: consecutive ids spread


class WriteShards(beam.DoFn):
    """(key, packed value) -> appended to its key's shard file: each bundle writes files of its own, renamed into
    place when the bundle finishes, so no data is shuffled."""

    def __init__(self, directory: str, shards: int):
        self._directory, self._shards = directory, shards

    def start_bundle(self):
        self._bundle, self._files = uuid.uuid4().hex, {}

    def process(self, keyed):
        key, value = keyed
        shard = shard_of(key, self._shards)
        out = self._files.get(shard)
        if out is None:
            out = self._files[shard] = FileSystems.create(self._path(shard) + ".tmp",
                                                          compression_type=CompressionTypes.UNCOMPRESSED)
        out.write(_KEY.pack(key) + value)
        return ()  # the values are in the shard files

    def finish_bundle(self):
        for out in self._files.values():
            out.close()
        FileSystems.rename([self._path(s) + ".tmp" for s in self._files], [self._path(s) for s in self._files])

    def _path(self, shard: int) -> str:
        return path(self._directory, shard, self._bundle)


def path(directory: str, shard: Optional[int] = None, bundle: str = "*") -> str:
    """The file of a shard and bundle; by default a pattern (every bundle of the shard, or of every shard)."""
    return os.path.join(directory, f"shard-{'*' if shard is None else f'{shard:05d}'}-{bundle}.bin")


def _records(pattern: str, value_size: int) -> Iterator[Tuple[int, bytes]]:
    record = _KEY.size + value_size
    for metadata in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(metadata.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for chunk in iter(lambda: f.read(record * 4096), b""):
                for start in range(0, len(chunk), record):
                    yield _KEY.unpack_from(chunk, start)[0], chunk[start + _KEY.size:start + record]


def write_file(content: bytes, path: str) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(content)


def read_file(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def read_shards(pipeline, pattern: str, value_size: int, label: str = "Shards") -> beam.PCollection:
    return (pipeline
            | f"List{label}" >> beam.Create([pattern])
            | f"Read{label}" >> beam.FlatMap(_records, value_size))


@contextlib.contextmanager
def work_dir(path: str) -> Iterator[str]:
    """`path` for a job's intermediates, deleted when the job ends, also when it fails."""
    try:
        yield path
    finally:
        if FileSystems.exists(path):
            FileSystems.delete([path])


def release_freed_memory() -> None:
    """Hands the heap the last pass freed back to the system (glibc keeps it otherwise), so that the passes'
    peaks do not stack on the fragments of the ones before."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
