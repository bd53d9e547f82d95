"""Cancel and Resubmit on the table's selected rows: each task asked of the facade, the
call shown to repeat in a script, and a word on those that could not be."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Slot

from app.core import TaskState


class RowActions(QObject):
    """Wires the table bar's Cancel and Resubmit of ``window`` (the ``MainWindow``)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        window.table_bar.cancel.clicked.connect(self.cancel)
        window.table_bar.resubmit.clicked.connect(self.resubmit)

    @Slot()
    def cancel(self) -> None:
        """PENDING rows leave the queue; RUNNING ones, if the user agrees that their
        workers be killed, end CANCELLED (``cancel(id, force=True)``)."""
        w = self.window
        running = [t.ID for t in w.selected_tasks() if t.state is TaskState.RUNNING]
        force = bool(running) and w.ask_force_cancel(running)
        rule = "only PENDING tasks can, or RUNNING ones when their worker may be killed"
        action = partial(w.facade.cancel, force=force)
        self._act(action, "cancel", ", force=True" if force else "", "cancelled", rule)

    @Slot()
    def resubmit(self) -> None:
        rule = "only ended, unsuccessful tasks can"
        self._act(self.window.facade.resubmit, "resubmit", "", "resubmitted", rule)

    def _act(
        self, action: Callable[[str], bool], name: str, extra: str, done: str, rule: str
    ) -> None:
        w = self.window
        ids = w.selected_ids()
        acted = sum(1 for task_id in ids if action(task_id))
        if ids:
            more = " ..." if len(ids) > 1 else ""
            w.controls.code.setText(f"w.{name}({ids[0]!r}{extra}){more}")
        skipped = len(ids) - acted
        w.controls.message.setText(
            f"{done} {acted}" + (f"; {skipped} could not be ({rule})" if skipped else "")
        )
