"""The controls of the scenario in play: pause and resume, one step at a time, the pace
between steps, and what the next step will do, said before it runs.

The bar shows while a scenario plays (and its outcome once it has ended), and hides when
a new run ends it. Its actions are in the Scenarios menu too, with their shortcuts, so
they work from the keyboard wherever the focus is. Step plays the next step and the
remarks right after it, then holds before the next step that does something: a remark
prints itself in the console and needs no click of its own.
"""

from __future__ import annotations

import html
import logging

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.scenario_player import ScenarioPlayer
from app.gui.settings import SettingsReader
from app.teaching.narration import describe
from app.teaching.scenarios import ScenarioPlay

log = logging.getLogger("app.scenario")

PACES = (
    ("fast", "Fast: no pause", 0.0),
    ("normal", "Normal: a step a second", 1.0),
    ("slow", "Slow: a step every 3 s", 3.0),
)
"""(key kept in the settings, label, seconds between two steps' beginnings)."""
PACE_KEY = "scenarios/pace"
START_PAUSED_KEY = "scenarios/startPaused"
PAUSE_SHORTCUT = "F8"  # a browser debugger's keys: F8 pause and resume, F10 step
STEP_SHORTCUT = "F10"


class ScenarioBar(QFrame):
    """Pause/Resume, Step, the pace and the narration of ``player``'s scenario."""

    def __init__(
        self,
        player: ScenarioPlayer,
        settings: QSettings,
        menu: QMenu | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("scenarioBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._player = player
        self._settings = settings
        self._active = False  # a scenario plays: between its start and its end
        style = self.style()
        self._pause_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self._resume_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self.pause_action = QAction(self._pause_icon, "&Pause scenario", self)
        self.pause_action.setShortcut(QKeySequence(PAUSE_SHORTCUT))
        self.pause_action.triggered.connect(self.toggle_pause)
        self.step_action = QAction(
            style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipForward), "&Step", self
        )
        self.step_action.setShortcut(QKeySequence(STEP_SHORTCUT))
        self.step_action.setToolTip(
            f"Play the next step (and the remarks after it), then hold again  ({STEP_SHORTCUT})"
        )
        self.step_action.triggered.connect(self.step)
        self.start_paused_action = QAction("Start paused (step &by step)", self)
        self.start_paused_action.setCheckable(True)
        self.start_paused_action.setToolTip(
            "A scenario waits before its first step: press Step to play each one"
        )
        self.title = QLabel(self)
        self.title.setObjectName("scenarioTitle")
        bold = self.title.font()
        bold.setBold(True)
        self.title.setFont(bold)
        self.narration = QLabel(self)
        self.narration.setObjectName("scenarioNarration")
        self.narration.setWordWrap(True)
        self.narration.setTextFormat(Qt.TextFormat.RichText)
        self.narration.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.narration.setToolTip("What the next step will do, said before it runs")
        self.said = ""  # the narration as plain text
        self.pace = QComboBox(self)
        self.pace.setObjectName("scenarioPace")
        self.pace.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.pace.setToolTip("The pause between two steps of a scenario (kept between runs)")
        for _key, label, seconds in PACES:
            self.pace.addItem(label, seconds)
        self._restore()
        self.pace.currentIndexChanged.connect(self._pace_chosen)
        self.start_paused_action.toggled.connect(self._start_paused_chosen)
        self._layout()
        if menu is not None:
            menu.addSeparator()
            menu.addActions([self.pause_action, self.step_action, self.start_paused_action])
        player.started.connect(self._started)
        player.moved.connect(self._moved)
        player.held.connect(self._held)
        player.finished.connect(self._finished)
        player.stopped.connect(self._stopped)
        self._refresh()
        self.hide()

    @property
    def pace_seconds(self) -> float:
        return float(self.pace.currentData())

    def _layout(self) -> None:
        self.pause_button = self._tool_button(self.pause_action, "scenarioPause")
        self.step_button = self._tool_button(self.step_action, "scenarioStep")
        pace_label = QLabel("Pace:", self)
        pace_label.setBuddy(self.pace)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.title, 1)
        row.addWidget(self.pause_button)
        row.addWidget(self.step_button)
        row.addWidget(pace_label)
        row.addWidget(self.pace)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.setSpacing(2)
        box.addLayout(row)
        box.addWidget(self.narration)

    def _tool_button(self, action: QAction, name: str) -> QToolButton:
        button = QToolButton(self)
        button.setObjectName(name)
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        return button

    # == the user's choices ===============================================================
    def _restore(self) -> None:
        """The pace and Start paused of the last session; a damaged value leaves the
        default, with one warning line."""
        read = SettingsReader(self._settings)
        keys = [key for key, _label, _seconds in PACES]
        raw = self._settings.value(PACE_KEY)
        usable = isinstance(raw, str) and raw in keys  # not bytes: b"slow" == "slow" here
        if raw is not None and not usable:
            read.unusable(PACE_KEY, raw, keys[0], "one of " + ", ".join(keys))
        self.pace.setCurrentIndex(keys.index(raw) if usable else 0)
        self.start_paused_action.setChecked(read.flag(START_PAUSED_KEY, False))

    @Slot(int)
    def _pace_chosen(self, index: int) -> None:
        self._settings.setValue(PACE_KEY, PACES[index][0])
        play = self._play()
        if play is not None:
            play.pace = self.pace_seconds

    @Slot(bool)
    def _start_paused_chosen(self, paused: bool) -> None:
        self._settings.setValue(START_PAUSED_KEY, paused)

    # == pause, resume, step ==============================================================
    @Slot()
    def toggle_pause(self) -> None:
        """Pauses the scenario before its next step (a step begun goes on), or resumes it."""
        play = self._play()
        if play is None:
            return
        if play.held:
            play.resume()
        else:
            play.held = True
        self._refresh()

    @Slot()
    def step(self) -> None:
        """Lets the next step play, and holds again before the one after it (past remarks)."""
        play = self._play()
        if play is None or not _resting(play):
            return  # only from a pause: while a step plays, Pause is the way to stop
        play.step_once()
        self._refresh()

    def _play(self) -> ScenarioPlay | None:
        """The play the controls act on: the scenario in play, until it ends."""
        return self._player.play if self._active else None

    # == what the player says =============================================================
    @Slot(str)
    def _started(self, _name: str) -> None:
        self._active = True
        play = self._player.play
        if play is not None:
            play.pace = self.pace_seconds
            play.held = self.start_paused_action.isChecked()
        self._refresh()
        self.show()

    @Slot()
    def _moved(self) -> None:
        self._refresh()

    @Slot(int)
    def _held(self, index: int) -> None:
        """The console says what comes, each time the play stops before a step."""
        scenario = self._player.scenario
        if scenario is None or not self._active:
            return
        self._refresh()
        total = len(scenario.steps)
        text = describe(scenario.steps, index, scenario.options)
        log.info("The scenario waits before step %d of %d. Next: %s", index + 1, total, text)

    @Slot(bool)
    def _finished(self, documented: bool) -> None:
        self._active = False
        self._refresh()
        problems = len(self._player.problems)
        self.title.setText(
            f"Scenario: {self._title()}: ended, "
            + (
                "every task as documented"
                if documented
                else f"{problems} difference(s) from what it documents (see the console)"
            )
        )
        self._say("", "")

    @Slot()
    def _stopped(self) -> None:
        self._active = False
        self._refresh()
        self.hide()

    def _title(self) -> str:
        scenario = self._player.scenario
        return scenario.title if scenario is not None else ""

    def _refresh(self) -> None:
        """The buttons, the position and the narration, as the play stands now."""
        play, scenario = self._play(), self._player.scenario
        held = play is not None and play.held
        asking = play is not None and play.held_by_hook  # a question holds it: answer first
        self.pause_action.setEnabled(play is not None and not asking)
        self.step_action.setEnabled(play is not None and _resting(play) and not asking)
        self.pause_action.setText("&Resume scenario" if held else "&Pause scenario")
        self.pause_action.setIcon(self._resume_icon if held else self._pause_icon)
        self.pause_action.setToolTip(
            (
                "Let the scenario go on at its pace"
                if held
                else "Hold the scenario before its next step (a step begun ends first)"
            )
            + f"  ({PAUSE_SHORTCUT})"
        )
        if play is None or scenario is None:
            return
        total = len(scenario.steps)
        position = play.position
        when = "Now" if play.begun else "Next"
        if position >= total:
            where, when = "every step played", ""
        elif play.begun:
            where = f"step {position + 1} of {total} playing" + (", then paused" if held else "")
        elif asking:
            where = f"waits for your prediction before step {position + 1} of {total}"
        else:
            where = f"{'paused before' if held else 'next:'} step {position + 1} of {total}"
        self.title.setText(f"Scenario: {scenario.title}  ·  {where}")
        self._say(when, describe(scenario.steps, position, scenario.options) if when else "")

    def _say(self, when: str, text: str) -> None:
        """``when: text`` in the narration label, the text taken literally."""
        self.said = f"{when}: {text}" if text else ""
        self.narration.setText(f"<b>{when}:</b> {html.escape(text)}" if text else "")


def _resting(play: ScenarioPlay) -> bool:
    """Held before a step, none of its steps playing."""
    return play.held and not play.begun and play.next_step is not None
