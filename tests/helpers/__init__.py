"""Helpers shared by several test modules. A test module imports from here or uses a tests/conftest.py fixture,
never another test module (tests/test_layout.py checks)."""
