"""Every CLI input a user can get wrong ends in one `error:` line naming the flag, with no traceback; a missing
output directory is created."""
from __future__ import annotations

import pytest

from tests.conftest import run_cli

NOT_A_DIRECTORY = "/proc/version/sub"  # under a file: no user, root included, can create it

BAD_INPUTS = {
    "compile into an uncreatable directory": (
        ["compile", "--output", f"{NOT_A_DIRECTORY}/p.yaml", "--pipeline-root", "gs://b/r"],
        "--output: cannot create /proc/version/sub"),
    "compile with an unknown hyperparameter": (
        ["compile", "--output", "{tmp}/p.yaml", "--pipeline-root", "gs://b/r", "--hparam", "nosuch=1"],
        "--hparam: unknown hyperparameter 'nosuch'"),
    "compile with a mistyped hyperparameter": (
        ["compile", "--output", "{tmp}/p.yaml", "--pipeline-root", "gs://b/r", "--hparam", "batch_size=abc"],
        "--hparam batch_size: expects int, got 'abc'"),
    "compile with negative training steps": (
        ["compile", "--output", "{tmp}/p.yaml", "--train-steps", "-3"], "--train-steps: must be 0 or more"),
    "compile with an AUC above 1": (
        ["compile", "--output", "{tmp}/p.yaml", "--min-auc", "1.5"], "--min-auc: must be between 0 and 1"),
    "run with no data": (["run", "--size", "0", "--work-dir", "{tmp}/w"], "--size: must be a positive integer"),
    "run into an uncreatable work dir": (["run", "--work-dir", NOT_A_DIRECTORY], "--work-dir: cannot create"),
    "run on a directory without MovieLens files": (
        ["run", "--movielens", "{tmp}", "--work-dir", "{tmp}/w"], "no ratings.csv there"),
    "run with an unknown hyperparameter": (
        ["run", "--hparam", "nosuch=1", "--work-dir", "{tmp}/w"], "unknown hyperparameter 'nosuch'"),
    "run with a regression allowance that is not a number": (
        ["run", "--max-auc-regression", "a lot", "--work-dir", "{tmp}/w"], "expects a number, got 'a lot'"),
    "generate into an uncreatable directory": (["generate", "--output", NOT_A_DIRECTORY], "cannot create"),
    "generate a negative size": (["generate", "--output", "{tmp}/g", "--size", "-1"], "must be a positive integer"),
    "runs on a file that is not a store": (["runs", "--metadata", "{tmp}/not-a-store"], "is not an ML Metadata store"),
    "lineage on a file that is not a store": (
        ["lineage", "1", "--metadata", "{tmp}/not-a-store"], "is not an ML Metadata store"),
    "report into an uncreatable directory": (
        ["report", "--output", f"{NOT_A_DIRECTORY}/r.html", "--work-dir", "{tmp}"], "cannot create"),
    "recommend a negative count": (["recommend", "--user", "1", "--top", "-1"], "--top: must be a positive integer"),
    "run as of a time before the first rating": (
        ["run", "--movielens", "{tmp}/ml", "--as-of", "2001-01-01", "--work-dir", "{tmp}/w"],
        "--as-of 2001-01-01 is not after the first rating of {tmp}/ml/ratings.csv (2001-09-09T01:46:40 .. "),
    "run as of a time after the last rating": (
        ["run", "--movielens", "{tmp}/ml", "--as-of", "2002-01-01T10:00", "--work-dir", "{tmp}/w"],
        "--as-of 2002-01-01T10:00 is after the last rating of {tmp}/ml/ratings.csv"),
    "run as of a time that is not one": (
        ["run", "--movielens", "{tmp}/ml", "--as-of", "01.01.2002", "--work-dir", "{tmp}/w"],
        "as_of: '01.01.2002' is not a time YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS (UTC)"),
    "run as of a time given twice": (
        ["run", "--movielens", "{tmp}/ml", "--as-of", "2002-01-01", "--sample-option", "as_of=2002-01-01",
         "--work-dir", "{tmp}/w"], "give the as-of time once"),
    "download into an uncreatable directory": (
        ["download", "movielens", "--output", NOT_A_DIRECTORY], "cannot create"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line(case, tmp_path):
    (tmp_path / "not-a-store").write_text("not a database\n")
    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    (tmp_path / "ml" / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,1000000000\n2,1,3.0,1005000000\n")
    args, message = BAD_INPUTS[case]
    result = run_cli(*[arg.replace("{tmp}", str(tmp_path)) for arg in args], check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "error:" in last and message.replace("{tmp}", str(tmp_path)) in last, last
    assert not (tmp_path / "w").exists()  # nothing was started


@pytest.mark.slow
def test_compile_creates_the_output_directory(tmp_path):
    output = tmp_path / "missing" / "dir" / "p.yaml"
    result = run_cli("compile", "--output", str(output), "--pipeline-root", "gs://bucket/root")
    assert output.is_file() and f"wrote {output}" in result.stdout
