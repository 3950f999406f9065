"""Expiry: the job that runs every registered expirer (grants from inventory.expiry, exceptions from
their register)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from governance.jobs import registry


def run_expiry(now: datetime) -> dict[str, Any]:
    """Run every registered expirer (grants built in); each returns how many rows it ended."""
    return {name: expirer(now) for name, expirer in registry.expirers()}
