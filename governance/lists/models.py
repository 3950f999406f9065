from __future__ import annotations

from django.conf import settings
from django.db import models


class ListPreference(models.Model):
    """One person's shape of one list: the columns it shows (empty: the list's default) and the
    filters they saved by name, `[{"name": ..., "query": ...}]` in the order they were saved.
    A personal preference, not governed state: changing it writes no audit event."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_preferences"
    )
    list_key = models.CharField(max_length=40)
    columns = models.JSONField(default=list, blank=True)
    saved_views = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "governance"
        constraints = [models.UniqueConstraint(fields=["user", "list_key"], name="list_preference_once")]

    def __str__(self) -> str:
        return f"{self.user} · {self.list_key}"
