"""The console thread: callers never wait for the terminal, lines keep their order, and a
drop is counted and said."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from app.core import console


def test_a_terminal_that_does_not_drain_never_blocks_the_writer(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(console, "MAX_PENDING_LINES", 50)
    read_end, write_end = os.pipe()
    stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    try:
        before = console.dropped_lines()
        start = time.monotonic()
        for n in range(200):  # 400 KiB: far more than the pipe takes while nobody reads
            console.write_line(stream, f"{n:04d} " + "x" * 2048)
        assert time.monotonic() - start < 1.0  # queued, never written by this thread
        dropped = console.dropped_lines() - before
        assert dropped > 0

        received = bytearray()
        reader = threading.Thread(target=_read_all, args=(read_end, received), daemon=True)
        reader.start()
        with caplog.at_level(logging.WARNING, logger="app.core"):
            assert console.drain(10.0)
        stream.close()  # the reader sees the end of the pipe, and so has every line
        reader.join(10.0)
        numbers = [int(line[:4]) for line in received.decode().splitlines()]
        assert numbers == sorted(numbers) and len(numbers) == 200 - dropped
        assert any(f"{dropped} console line(s) dropped" in r.getMessage() for r in caplog.records)
    finally:
        stream.close()
        os.close(read_end)


def _read_all(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            return
        if not chunk:
            return
        into += chunk
