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
workers = int(os.environ.get("STEWARD_WEB_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("STEWARD_WEB_THREADS", "4"))
keepalive = 5  # seconds an idle client connection stays open (behind a load balancer, keep it above 0)
timeout = 60
graceful_timeout = 30
max_requests = 10000  # recycle a worker now and then (with jitter, so they do not all restart at once)
max_requests_jitter = 1000
