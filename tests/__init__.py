"""Test suite of the worker facade (a package, so spawned workers can import test tasks)."""
