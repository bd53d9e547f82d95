"""The same facade over a Dask cluster (optional: ``pip install .[dask]``). Qt-free."""

from __future__ import annotations

import importlib.util

INSTALL_HINT = (
    "the Dask backend needs the optional 'distributed' package: "
    "pip install -e '.[dask]' (or: pip install distributed)"
)


def dask_available() -> bool:
    """Whether ``distributed`` can be imported, without importing it."""
    return importlib.util.find_spec("distributed") is not None


def quiet_dask_logs() -> None:
    """Dask's warnings and errors go to the shared console, in its format; its INFO
    chatter (every connection, every registration) does not. An application's choice,
    made by this project's entry points, never by the library."""
    import logging

    import distributed  # noqa: F401  (its logging configuration, applied at import)

    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logger = logging.getLogger(name)
            logger.handlers.clear()  # its own stderr handlers: the console prints instead
            logger.propagate = True
            if logger.getEffectiveLevel() < logging.WARNING:
                logger.setLevel(logging.WARNING)
