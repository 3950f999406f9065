"""Import previews waiting for their confirm: files under `imports/` in the default storage.

The import page keeps the uploaded file between preview and confirm (`inventory.views.importing`).
Confirming deletes it; a preview nobody confirms would stay forever, so a scheduled job
(`import_previews`, registered in `inventory.jobs`) deletes every preview older than a day.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files.storage import default_storage

log = logging.getLogger(__name__)

PREVIEW_DIR = "imports"
PREVIEW_MAX_AGE = timedelta(days=1)


def preview_path(token: str) -> str:
    return f"{PREVIEW_DIR}/{token}"


def delete_abandoned_previews(now: datetime) -> dict[str, int]:
    """Delete previews last written more than PREVIEW_MAX_AGE before `now`.

    Idempotent: a file already gone (confirmed meanwhile, or deleted by a concurrent run) is skipped.
    """
    try:
        _folders, files = default_storage.listdir(PREVIEW_DIR)
    except FileNotFoundError:
        return {"deleted": 0, "kept": 0}
    cutoff = now - PREVIEW_MAX_AGE
    deleted = kept = 0
    for name in files:
        path = preview_path(name)
        try:
            written = default_storage.get_modified_time(path)
        except FileNotFoundError:
            continue
        if written > cutoff:
            kept += 1
            continue
        try:
            default_storage.delete(path)
        except FileNotFoundError:
            continue
        deleted += 1
    if deleted:
        log.info("deleted %d abandoned import preview(s)", deleted)
    return {"deleted": deleted, "kept": kept}
