"""The export's dialogs: where to write, and what went wrong if it could not be written."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.gui import formatting


def ask_export_path(parent: QWidget) -> str:
    """The file to export to, with a .csv or .json suffix; "" if none was chosen."""
    path, chosen = QFileDialog.getSaveFileName(
        parent, "Export tasks", "tasks.csv", "CSV (*.csv);;JSON (*.json)"
    )
    if path and not path.lower().endswith((".csv", ".json")):
        path += ".json" if "json" in chosen.lower() else ".csv"
    return path


def export_or_say(parent: QWidget, path: str, export: Callable[[str], None]) -> None:
    """Runs ``export(path)``; a file that cannot be written is said in a message box."""
    try:
        export(path)
    except (OSError, ValueError) as exc:
        why = formatting.error_text(exc)
        QMessageBox.warning(parent, "Export failed", f"Could not export to {path}\n{why}")
