"""``python -m app demo --scenario NAME --step``: the scenario one step at a time.

Before each step that calls the facade or waits, the terminal prints what it will do
(``narration``) and waits for Enter; the scenario's own remarks print as they play, with
no Enter to press. The end of the input (Ctrl-D, or a stdin that is not a terminal and is
empty) plays the rest without waiting; Ctrl-C ends the run as any terminal command's.
"""

from __future__ import annotations

import sys
from typing import TextIO

from app.core import console
from app.teaching.narration import narrate
from app.teaching.scenarios import Scenario, ScenarioPlay

PROMPT = "Enter plays it · Ctrl-D plays the rest without waiting · Ctrl-C stops: "
END_OF_INPUT = "end of input: playing the rest of the scenario without waiting"


class TerminalStepper:
    """``on_held`` for ``run_headless``: called each time the play is held before a step."""

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
        lines = self._lines or sys.stdin
        out = self._out or sys.stdout
        console.drain(1.0)  # the lines of the steps played so far come first
        total = len(self._scenario.steps)
        print(
            f"\n[step {play.position + 1} of {total}] {narrate(self._scenario, play.position)}",
            file=out,
        )
        print(PROMPT, end="", file=out, flush=True)
        self.asked += 1
        if lines.readline():
            play.step_once()
            return
        print(f"\n{END_OF_INPUT}", file=out, flush=True)
        play.resume()
