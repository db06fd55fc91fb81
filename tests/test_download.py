"""`sparrow-tfx download movielens` against a loopback HTTP server serving zips the tests build."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import re
import socket
import threading
import zipfile

import pytest

from pipeline.cli import main
from pipeline.datasets import movielens

VARIANT = "ml-latest-small"
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
MOVIES = "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"


def release_zip(variant: str = VARIANT, files=None) -> bytes:
    files = {"ratings.csv": RATINGS, "movies.csv": MOVIES} if files is None else files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(f"{variant}/{name}", text)
    return buffer.getvalue()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1; yields (base URL, served directory, request log)."""
    served = tmp_path / "www"
    served.mkdir()
    requests = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, requests
    httpd.shutdown()
    httpd.server_close()


def publish(served, data: bytes, md5: str = None, variant: str = VARIANT) -> str:
    """Writes the zip and, unless md5 is "", its .md5 file in GroupLens' format; returns the zip's sha256."""
    (served / f"{variant}.zip").write_bytes(data)
    if md5 != "":
        digest = md5 or hashlib.md5(data).hexdigest()
        (served / f"{variant}.zip.md5").write_text(f"MD5 ({variant}.zip) = {digest}\n")
    return hashlib.sha256(data).hexdigest()


def assert_nothing_left(output) -> None:
    assert not os.path.exists(output) or os.listdir(output) == []


def test_downloads_verifies_and_unpacks(server, tmp_path):
    base_url, served, requests = server
    sha256 = publish(served, release_zip())
    path = movielens.download(VARIANT, str(tmp_path / "out"), base_url=base_url, sha256=sha256)
    assert path == str(tmp_path / "out" / VARIANT)
    assert open(os.path.join(path, "ratings.csv")).read() == RATINGS
    assert sorted(os.listdir(tmp_path / "out")) == [VARIANT]  # no staging left behind
    # Already unpacked: not fetched again.
    fetched = len(requests)
    assert movielens.download(VARIANT, str(tmp_path / "out"), base_url=base_url) == path
    assert len(requests) == fetched


def test_published_md5_alone_verifies_a_variant_without_pinned_digest(server, tmp_path):
    base_url, served, _ = server
    publish(served, release_zip("ml-32m"), variant="ml-32m")
    path = movielens.download("ml-32m", str(tmp_path / "out"), base_url=base_url)
    assert movielens.is_unpacked(path)


def test_pinned_digest_mismatch_fails_and_leaves_nothing(server, tmp_path):
    base_url, served, _ = server
    publish(served, release_zip())  # the md5 matches, but not the pinned sha256 of the real release
    with pytest.raises(movielens.DownloadError, match="SHA-256 mismatch: expected 696d65a3"):
        movielens.download(VARIANT, str(tmp_path / "out"), base_url=base_url)
    assert_nothing_left(tmp_path / "out")


def test_published_md5_mismatch_fails(server, tmp_path):
    base_url, served, _ = server
    sha256 = publish(served, release_zip(), md5="0" * 32)
    with pytest.raises(movielens.DownloadError, match="published MD5 mismatch"):
        movielens.download(VARIANT, str(tmp_path / "out"), base_url=base_url, sha256=sha256)
    assert_nothing_left(tmp_path / "out")


def test_no_checksum_at_all_fails(server, tmp_path):
    base_url, served, _ = server
    publish(served, release_zip("ml-latest"), md5="", variant="ml-latest")
    with pytest.raises(movielens.DownloadError, match="no checksum to verify"):
        movielens.download("ml-latest", str(tmp_path / "out"), base_url=base_url)
    assert_nothing_left(tmp_path / "out")


def test_a_zip_without_the_raw_files_is_refused(server, tmp_path):
    base_url, served, _ = server
    sha256 = publish(served, release_zip(files={"ratings.csv": RATINGS}))
    with pytest.raises(movielens.DownloadError, match="no movies.csv"):
        movielens.download(VARIANT, str(tmp_path / "out"), base_url=base_url, sha256=sha256)
    assert_nothing_left(tmp_path / "out")


def test_missing_release_names_the_url(server, tmp_path):
    base_url, _, _ = server
    with pytest.raises(movielens.DownloadError, match=r"ml-25m\.zip: HTTP 404"):
        movielens.download("ml-25m", str(tmp_path / "out"), base_url=base_url)


def test_offline_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(movielens.DownloadError, match="cannot reach .*offline"):
        movielens.download(VARIANT, str(tmp_path / "out"), base_url=f"http://127.0.0.1:{port}")
    assert_nothing_left(tmp_path / "out")


def test_command_line(server, tmp_path, capsys):
    base_url, served, _ = server
    sha256 = publish(served, release_zip())
    out = str(tmp_path / "out")
    assert main.main(["download", "movielens", "--output", out, "--base-url", base_url, "--sha256", sha256]) == 0
    shown = capsys.readouterr().out
    assert f"sparrow-tfx run --movielens {os.path.join(out, VARIANT)}" in shown
    for done, step in enumerate(movielens.DOWNLOAD_STEPS, start=1):  # not a terminal: one line per step
        assert re.search(rf"^\[0:\d\d\] {step} done in \d+\.\d s \({done}/3 steps done\)$", shown, re.M), shown
    assert main.main(["download", "movielens", "--variant", "ml-25m", "--output", out, "--base-url", base_url]) == 1
    shown = capsys.readouterr()
    assert "HTTP 404" in shown.err
    assert re.search(r"^\[0:\d\d\] download failed in \d+\.\d s \(1/3 steps done\)$", shown.out, re.M), shown.out
    with pytest.raises(SystemExit):
        main.main(["download", "movielens", "--variant", "ml-1m"])  # another file format: not offered
