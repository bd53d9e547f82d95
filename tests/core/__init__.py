"""Tests of ``app.core``: the Qt-free worker facade."""
