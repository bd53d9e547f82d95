"""The Qt monitor window around ``app.core`` (the only package here that imports Qt)."""

from app.gui.main_window import MainWindow

__all__ = ["MainWindow"]
