"""Shared fixtures for the whole suite.

The runs that windows and programs started by the tests record go to a temporary folder.
Every test is checked for leaks, not only those that use the ``app.testing`` plugin's
fixtures: ``every_test_leak_checked`` (autouse) fails any test that leaves a child
process alive, a non-daemon thread or a QThread running (``monitor_leak_check``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

from app.core.run_paths import RUNS_ENV
from app.teaching.stdlib_cache import CACHE_ENV
from app.testing import LeakCheck

# The windows and programs the tests start record their runs here, never in the user's
# runs folder (set before any test, so the subprocesses they start inherit it too).
os.environ[RUNS_ENV] = tempfile.mkdtemp(prefix="worker-monitor-test-runs-")
atexit.register(shutil.rmtree, os.environ[RUNS_ENV], True)
# The outcomes ``compare`` observes, likewise, never go to the user's cache.
os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="worker-monitor-test-cache-")
atexit.register(shutil.rmtree, os.environ[CACHE_ENV], True)


@pytest.fixture(autouse=True)
def every_test_leak_checked(monitor_leak_check: LeakCheck) -> LeakCheck:
    """Makes the plugin's leak check autouse here; it runs after every other teardown."""
    return monitor_leak_check
