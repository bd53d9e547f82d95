"""Whole lines out of a byte stream that arrives in pieces: a worker's fds 1 and 2.

A line is never held back for ever, and never grows without bound: one longer than
``MAX_LINE`` bytes is cut into pieces of that size (binary output with no newline
cannot fill the parent's memory).
"""

from __future__ import annotations

MAX_LINE = 64 * 1024
"""The longest line kept whole, in bytes; a longer one arrives in pieces of this size."""


class LineSplitter:
    """Feeds bytes in, takes whole lines out; the unfinished tail waits for its newline."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """The lines that ``data`` completes, decoded (undecodable bytes escaped)."""
        tail = self._tail
        tail += data
        lines: list[str] = []
        start = 0
        size = len(tail)
        while start < size:
            end = tail.find(b"\n", start, start + MAX_LINE + 1)
            if end >= 0:
                lines.append(_text(tail[start:end]))
                start = end + 1
            elif size - start > MAX_LINE:  # too long to wait for its end: a piece now
                lines.append(_text(tail[start : start + MAX_LINE]))
                start += MAX_LINE
            else:
                break
        del tail[:start]
        return lines

    def rest(self) -> list[str]:
        """The unfinished tail as a last line (its writer is done), or nothing."""
        if not self._tail:
            return []
        line = _text(self._tail)
        self._tail.clear()
        return [line]


def _text(data: bytes | bytearray) -> str:
    return data.decode("utf-8", "backslashreplace").removesuffix("\r")
