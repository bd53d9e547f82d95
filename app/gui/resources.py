"""Find and load the window's icons and stylesheet, wherever the app is running from.

The files live in the top-level ``resources/`` folder of a source checkout; a wheel ships
the same folder as the package ``app.resources``. Nothing here may crash the UI: a missing
icon or stylesheet is logged once and replaced by an empty one. Call from the GUI thread.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import logging
from pathlib import Path

from PySide6.QtGui import QIcon

__all__ = ["icon", "resource_dir", "state_icon", "stylesheet"]

_log = logging.getLogger(__name__)

_PACKAGE = "app.resources"
_SOURCE_DIR = Path(__file__).resolve().parents[2] / "resources"


def _looks_like_ours(path: Path) -> bool:
    """Tell our folder from an unrelated ``resources`` folder (e.g. one in site-packages)."""
    return (path / "icons").is_dir() or (path / "style.qss").is_file()


def _package_dirs() -> list[Path]:
    """Real directories of the installed ``app.resources`` package; [] when it is absent.

    ``importlib.resources.files`` gives a plain Path for a normal install; a namespace
    package (no ``__init__.py``) gives a multiplexed path, so read its search locations.
    Zipped installs have no real directory and are not supported.
    """
    try:
        root = importlib.resources.files(_PACKAGE)
    except ModuleNotFoundError:
        return []
    except (ImportError, OSError, TypeError, ValueError):  # e.g. a namespace dir that vanished
        root = None
    if isinstance(root, Path):
        return [root]
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        return []
    locations = spec.submodule_search_locations if spec is not None else None
    return [Path(p) for p in locations or ()]


@functools.cache
def resource_dir() -> Path:
    """The folder holding ``icons/`` and ``style.qss``: source checkout first, then the wheel.

    Raises FileNotFoundError naming every place looked at, so a broken install is obvious.
    """
    package_dirs = _package_dirs()
    for candidate in (_SOURCE_DIR, *package_dirs):
        if candidate.is_dir() and _looks_like_ours(candidate):
            return candidate
    looked = [f"{_SOURCE_DIR} (source checkout)"]
    looked += [f"{d} (package {_PACKAGE})" for d in package_dirs]
    if not package_dirs:
        looked.append(f"package {_PACKAGE} (not installed)")
    raise FileNotFoundError(f"resources folder not found; looked in: {'; '.join(looked)}")


def _resource_file(relative: str) -> Path | None:
    """Path of a resource file, or None (with a warning) when it or its folder is missing."""
    try:
        path = resource_dir() / relative
    except FileNotFoundError as exc:
        _log.warning("%s; %s unavailable", exc, relative)
        return None
    if not path.is_file():
        _log.warning("resource %s not found in %s", relative, path.parent)
        return None
    return path


@functools.cache
def icon(name: str) -> QIcon:
    """The icon ``icons/<name>.svg``, loaded once; an empty QIcon (warned once) if missing.

    Cached so the table's ``data()`` can return it per cell without touching the disk.
    """
    path = _resource_file(f"icons/{name}.svg")
    return QIcon(str(path)) if path is not None else QIcon()


def state_icon(state_name: str) -> QIcon:
    """The icon for a task state, by its lowercase name (``TaskState.X.value``)."""
    return icon(state_name.lower())


def stylesheet() -> str:
    """The contents of ``style.qss`` ('' with a warning if missing); re-read on every call."""
    path = _resource_file("style.qss")
    return path.read_text(encoding="utf-8") if path is not None else ""
