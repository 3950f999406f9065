from rest_framework import serializers

from governance.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "at",
            "actor",
            "actor_kind",
            "on_behalf_of",
            "verb",
            "subject",
            "subject_type",
            "subject_id",
            "subject_label",
            "before",
            "after",
            "reason",
            "request_id",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields

    def get_subject(self, obj) -> str:
        return f"{obj.subject_type}:{obj.subject_id}"
