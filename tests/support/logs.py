"""Keeping the test process's logging intact around code that reconfigures it."""

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def logging_config_kept() -> Iterator[None]:
    """migrations/env.py runs logging.fileConfig, which disables every existing logger; undo that."""
    manager = logging.Logger.manager
    loggers = {name: lg for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    saved = {name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate) for name, lg in loggers.items()}
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for name, logger in list(manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger):
                continue
            if name in saved:
                logger.disabled, logger.level, logger.handlers, logger.propagate = saved[name]
            else:
                logger.disabled = False
        root.setLevel(root_level)
        root.handlers = root_handlers
