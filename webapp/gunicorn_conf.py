"""gunicorn settings for the search site: ``gunicorn -c python:webapp.gunicorn_conf "webapp:create_app('site.db')"``.

Command-line options override these (e.g. ``--bind``, ``--workers``).
"""

from __future__ import annotations

import gc
import os

#: One worker process per core: the app is CPU-bound Python.
workers = os.cpu_count() or 1
#: A few threads per worker keep slow clients from blocking it; more only queue for the GIL
#: (on 2 cores under bench_site's load: 4 threads p95 35 ms, p99 46 ms; 8 threads p95 40 ms, p99 69 ms).
worker_class = "gthread"
threads = 4
bind = "127.0.0.1:8000"


def post_worker_init(worker: object) -> None:
    """Freeze the objects made at start-up (the app, its modules) out of the garbage collector's passes.

    They live as long as the worker; without this a full collection walks them all, a pause of
    10–35 ms in the middle of whichever requests are running.
    """
    gc.freeze()
