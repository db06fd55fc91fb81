"""The tests' own layout: shared helpers live in tests/helpers/ or tests/conftest.py, never in a test module."""
from __future__ import annotations

import ast
import pathlib

TESTS = pathlib.Path(__file__).resolve().parent


def _is_test_module(dotted: str) -> bool:
    """Whether a module path relative to tests/ ("test_x", "test_x.y") names a test module."""
    return dotted.split(".")[0].startswith("test_")


def imported_test_modules(source: str) -> list:
    """The tests/test_*.py modules a tests/ source imports, by any import form (absolute, `from tests import`,
    relative)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names
                      if alias.name.startswith("tests.") and _is_test_module(alias.name[len("tests."):])]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module != "tests" and not module.startswith("tests."):
                continue
            within = module[len("tests"):].lstrip(".") if node.level == 0 else module
            if within:
                if _is_test_module(within):
                    found.append(module)
            else:  # `from tests import x` or `from . import x`
                found += [alias.name for alias in node.names if _is_test_module(alias.name)]
    return found


def test_the_scan_sees_every_import_form():
    source = ("import tests.test_a\nfrom tests import test_b, bad_data\nfrom tests.test_c import helper\n"
              "from . import test_d\nfrom .test_e import x\nfrom tests.helpers import samples\n"
              "from tests.conftest import run_cli\nimport testsuite.test_f\n")
    assert imported_test_modules(source) == ["tests.test_a", "test_b", "tests.test_c", "test_d", "test_e"]


def test_no_module_under_tests_imports_a_test_module():
    offenders = {str(path.relative_to(TESTS)): modules for path in sorted(TESTS.rglob("*.py"))
                 if (modules := imported_test_modules(path.read_text()))}
    assert not offenders, (f"move what they share into tests/helpers/ or a tests/conftest.py fixture: {offenders}")
