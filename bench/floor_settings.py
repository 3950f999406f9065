"""Steward's settings with the bench's floor views beside its own URLs (bench/floor.py). Bench-only."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor"
