"""Shared fixtures for the whole suite.

Every test is checked for leaks, not only those that use the ``app.testing`` plugin's
fixtures: ``every_test_leak_checked`` (autouse) fails any test that leaves a child
process alive, a non-daemon thread or a QThread running (``monitor_leak_check``).
"""

from __future__ import annotations

import pytest

from app.testing import LeakCheck


@pytest.fixture(autouse=True)
def every_test_leak_checked(monitor_leak_check: LeakCheck) -> LeakCheck:
    """Makes the plugin's leak check autouse here; it runs after every other teardown."""
    return monitor_leak_check
