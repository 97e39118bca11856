"""Process settings: garbage collection tuned once the app is loaded."""

import gc
import importlib.util
import signal
from pathlib import Path
from types import SimpleNamespace

from psycopg2 import extensions

from app.system import GC_THRESHOLDS, settle_heap


def test_settle_heap_freezes_start_up_objects_and_raises_the_thresholds():
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000  # the interpreter, pytest and the app's modules
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_gunicorn_settles_the_heap_after_loading_the_app():

    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf", Path(__file__).parent.parent / "gunicorn.conf.py"
    )
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    before = gc.get_threshold()
    on_sigterm = signal.getsignal(signal.SIGTERM)
    psycopg2_wait = extensions.get_wait_callback()
    worker = SimpleNamespace(wsgi=lambda environ, start_response: [])
    try:
        config.post_worker_init(worker=worker)
        assert gc.get_threshold() == GC_THRESHOLDS
        assert signal.getsignal(signal.SIGTERM) is not on_sigterm  # a graceful stop also drops sockets
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        signal.signal(signal.SIGTERM, on_sigterm)
        extensions.set_wait_callback(psycopg2_wait)
