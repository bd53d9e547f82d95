"""pytest-qt tests of the monitor window (offscreen unless WORKER_MONITOR_REAL_DISPLAY=1)."""
