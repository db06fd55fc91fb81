"""`make bench` (bench/run_all.py) knows every benchmark: `--list` names each bench/bench_*.py module."""
import subprocess
import sys

from bench import common


def test_list_names_every_benchmark_module():
    listed = subprocess.run([sys.executable, "-m", "bench.run_all", "--list"], cwd=common.REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert listed[0].split()[:2] == ["benchmark", "last"]
    modules = sorted(path.stem for path in (common.REPO_ROOT / "bench").glob("bench_*.py"))
    assert len(modules) >= 4
    assert sorted(line.split()[0] for line in listed[1:]) == modules


def test_an_unknown_benchmark_is_refused_with_the_list():
    result = subprocess.run([sys.executable, "-m", "bench.run_all", "bench_nothing"], cwd=common.REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "no benchmark bench_nothing; the benchmarks are bench_sample_gen, bench_model" in result.stderr
