"""``python -m app demo --scenario NAME --step``: the scenario one step at a time.

Before each step that calls the facade or waits, the terminal prints what it will do
(``narration``) and waits for Enter; the scenario's own remarks print as they play, with
no Enter to press. The end of the input (Ctrl-D, a stdin that is empty or closed) plays
the rest without waiting, and so does an output nobody reads any more (``| head``): there
is no one left to press Enter. Ctrl-C ends the run as any terminal command's.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from app.core import console
from app.teaching.narration import narrate
from app.teaching.scenarios import Scenario, ScenarioPlay

PROMPT = "Enter plays it, Ctrl-D plays the rest without waiting, Ctrl-C stops: "
END_OF_INPUT = "end of input: playing the rest of the scenario without waiting"


class TerminalStepper:
    """``on_held`` for ``run_headless``: called each time the play is held before a step.

    ``lines`` and ``out`` default to the process's stdin and stdout as they are at each
    step (a test, or a program, may have replaced them)."""

    def __init__(
        self, scenario: Scenario, lines: TextIO | None = None, out: TextIO | None = None
    ) -> None:
        self._scenario = scenario
        self._lines = lines
        self._out = out
        self.asked = 0  # how many steps waited for Enter

    def __call__(self, play: ScenarioPlay) -> None:
        step = play.next_step
        if step is None or step.kind == "say":
            play.step_once()  # a remark prints itself as it plays
            return
        console.drain(1.0)  # the lines of the steps played so far come first
        total = len(self._scenario.steps)
        said = narrate(self._scenario, play.position)
        if not self._print(f"\n[step {play.position + 1} of {total}] {said}\n{PROMPT}"):
            play.resume()  # nobody reads the prompts: nobody will press Enter
            return
        self.asked += 1
        if _line(self._lines or sys.stdin):
            play.step_once()
            return
        self._print(f"\n{END_OF_INPUT}\n")
        play.resume()

    def _print(self, text: str) -> bool:
        """Writes ``text`` (what the output's encoding cannot show, escaped); False once
        the reader has closed the pipe."""
        out = self._out or sys.stdout
        if out is None:
            return False
        encoding = getattr(out, "encoding", None) or "utf-8"
        try:
            out.write(text.encode(encoding, "backslashreplace").decode(encoding))
            out.flush()
        except BrokenPipeError:
            if out is sys.stdout:  # nothing left for the interpreter to flush at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
            return False
        return True


def _line(lines: TextIO | None) -> bool:
    """Whether a line came (False at the end of the input). Any line is an Enter: one in
    bytes the input's encoding cannot decode too, so the bytes are read as they are."""
    if lines is None:
        return False
    raw = getattr(lines, "buffer", None)
    return bool(raw.readline() if raw is not None else lines.readline())
