"""Terminal views of a recorded run (``python -m app report`` and ``trace``): Qt-free,
built on ``app.core.read_run``."""
