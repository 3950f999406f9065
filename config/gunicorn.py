"""Gunicorn's settings for Steward's web processes: `gunicorn -c config/gunicorn.py config.wsgi`.

Threads rather than one request per process: a request spends much of its time waiting on
PostgreSQL and Redis, and a threaded worker keeps its HTTP connections alive, where a sync worker
closes every connection after one answer (a gateway asking hundreds of questions a second then pays a
TCP handshake per question). bench/README.md measures the two side by side. Each thread holds its own
database connection (CONN_MAX_AGE), so size PostgreSQL's max_connections (or PgBouncer's pool) for
workers × threads per web host. Every value can be overridden on the command line or through
GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("STEWARD_BIND", "0.0.0.0:8000")
# More processes than cores, as gunicorn's documentation advises ((2 × cores) + 1), and few threads
# each. A threaded worker keeps the keep-alive connections it accepted, and whichever worker wakes first
# may accept most of them: with one process per core, eight clients' connections often all landed on one
# worker, which used one core while the other idled (decisions: 371/s with one worker at 7.8 s of CPU
# and the other at 0; 600–650/s with 4–5 workers). With more processes than cores the kernel spreads
# the busy ones over every core however the connections fell (bench/README.md).
# The cores this process may run on (a container's CPU set), not every core of the host.
cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else multiprocessing.cpu_count()
workers = int(os.environ.get("STEWARD_WEB_WORKERS", 2 * cores + 1))
worker_class = "gthread"
threads = int(os.environ.get("STEWARD_WEB_THREADS", "2"))
keepalive = 5  # seconds an idle client connection stays open (behind a load balancer, keep it above 0)
timeout = 60
graceful_timeout = 30
max_requests = 10000  # recycle a worker now and then (with jitter, so they do not all restart at once)
max_requests_jitter = 1000
