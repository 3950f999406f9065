from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only; they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only; they cannot be deleted.")


class AuditEvent(models.Model):
    class ActorKind(models.TextChoices):
        PERSON = "person", _("person")
        TOKEN = "token", _("API token")
        SYSTEM = "system", _("system job")

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    on_behalf_of = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=64, db_index=True)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    subject_label = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "seq"], name="audit_subject_seq"),
            # The audit list filtered by actor and a verb prefix (`verb=identity.` is a LIKE 'x%'):
            # counted and paged from this index instead of intersecting two large bitmaps over the
            # whole log (bench/README.md: 134 ms -> a few ms at 1,000,000 events).
            models.Index(
                fields=["actor", "verb", "seq"],
                name="audit_actor_verb_seq",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops", "int8_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor} {self.verb} {self.subject_label}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only; they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only; they cannot be deleted.")

    def hashed_fields(self) -> dict:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "on_behalf_of": self.on_behalf_of,
            "verb": self.verb,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "subject_label": self.subject_label,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
        }


class AuditChainHead(models.Model):
    """One row: the last sequence number and hash. Locked while appending, so the chain is linear."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"head #{self.seq}"


class AuditCheckpoint(models.Model):
    """The chain's head (seq, hash) signed with the `audit-checkpoint` key, which is not in the
    database. The row may be read by anyone; only the compact JWS in `jws` is trusted: the other
    columns are copies for listing and are checked against it (governance.checkpoints)."""

    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=100, blank=True)
    kid = models.CharField(max_length=120)
    jws = models.TextField()

    class Meta:
        ordering = ["-signed_at", "-id"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} at {self.signed_at:%Y-%m-%d %H:%M}"
