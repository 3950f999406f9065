import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Where everything runs as root (a container, a throwaway VM), Celery warns that a root worker is
# "absolutely not recommended". The danger it means is pickle: a root worker that unpickles messages
# runs whatever a broker client sends. Steward's workers accept JSON only (CELERY_ACCEPT_CONTENT), and
# Celery itself refuses to start a root worker that accepts pickle whatever this filter says, so the
# warning only adds noise to `make run`. In production, run the worker as its own user all the same.
warnings.filterwarnings(
    "ignore", message="You're running the worker with superuser", category=SecurityWarning
)

app = Celery("steward")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _settle(**kwargs) -> None:
    """Each pool process, once it has loaded: as a web worker does (config/startup.py)."""
    from config.startup import settle

    settle()
