"""What a long-lived Steward process does once it has loaded, before it serves: `settle()`.

A web worker holds about 180,000 Python objects once Django, the URL patterns, DRF and Cedar are
loaded, and nearly all of them live as long as the process. CPython's cyclic garbage collector walks
every one of them at each full (oldest-generation) collection: 110–140 ms on the bench machine,
during which the worker answers nothing. A full collection comes round every few hundred requests or
every few usage batches, so it was a sixth of in-process ingestion's time and the worst of the
decision endpoint's tail (bench/README.md, "Issue 23, fourth pass").

`gc.freeze()` moves everything alive at that moment into a permanent generation that collections
skip; what requests allocate afterwards is collected exactly as before. It is what CPython's
documentation suggests for pre-forked servers, and gunicorn's preload, if turned on, then shares the
frozen pages between workers instead of copying them as the collector touches them.

Loading the URL patterns first (a worker otherwise loads them on its first request) puts them among
the frozen objects too. `STEWARD_GC_FREEZE=0` leaves the collector as CPython sets it.
"""

from __future__ import annotations

import gc

from django.conf import settings
from django.urls import NoReverseMatch, reverse


def settle() -> None:
    """Load what every request needs, then freeze what is alive (see the module's docstring)."""
    try:
        reverse("healthz")  # builds the URL resolver: every app's patterns, imported once
    except NoReverseMatch:  # a URLconf without it (a test's): the first request loads the rest
        pass
    if settings.STEWARD_GC_FREEZE:
        gc.collect()  # what loading left unreachable goes now, not into the frozen generation
        gc.freeze()
