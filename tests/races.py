"""Start calls at the same moment, in threads released together, as two people clicking at once."""

import threading

from django.db import connections


def race(calls, timeout: float = 60) -> list:
    """Run the calls in threads released together; return each one's outcome (its result, or the
    exception it raised)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the tests assert on
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes
