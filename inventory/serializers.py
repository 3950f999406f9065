"""API shapes for the inventory. People by username, teams by slug, times ISO 8601 with a zone."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.links import id_links
from governance.people.models import Team, User
from inventory import extensions
from inventory.models import (
    DESCRIPTIVE_FIELDS,
    RESOURCE_NAME_LENGTH,
    Action,
    Credential,
    DataClassification,
    Environment,
    Grant,
    Identity,
    Remediation,
    ResourceKind,
    UsageEvent,
)


class GrantSerializer(serializers.ModelSerializer):
    is_current = serializers.BooleanField(read_only=True)

    class Meta:
        model = Grant
        fields = [
            "id",
            "resource_kind",
            "resource_name",
            "actions",
            "expires_at",
            "origin",
            "created_at",
            "last_used_at",
            "ended_at",
            "end_reason",
            "is_current",
        ]
        read_only_fields = fields


class CredentialSerializer(serializers.ModelSerializer):
    revocation_pending = serializers.BooleanField(read_only=True)

    class Meta:
        model = Credential
        fields = [
            "id",
            "kind",
            "label",
            "storage",
            "issued_at",
            "expires_at",
            "last_rotated_at",
            "revoked_at",
            "revocation_confirmed_at",
            "revocation_confirmed_by",
            "revocation_pending",
        ]
        read_only_fields = fields


class IdentitySerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    backup_owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)
    # Blank until a connector acts on it: declared so the schema says "" is a value too.
    remediation = serializers.ChoiceField(choices=Remediation.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Identity
        fields = [
            "id",
            *DESCRIPTIVE_FIELDS,
            "risk_tier",
            "risk_reasons",
            "status",
            "status_reason",
            "last_used_at",
            "last_reviewed_at",
            "next_review_due",
            "approved_at",
            "source",
            "external_id",
            "vanished",
            "vanished_at",
            "remediation",
            "remediation_error",
            "remediation_requested_at",
            "remediation_confirmed_at",
            "created_at",
            "updated_at",
            "version",
            "url",
        ]
        read_only_fields = fields


def _iso_writer():
    """Datetimes as DRF's DateTimeField writes them: in the current time zone, UTC as Z."""
    zone = timezone.get_current_timezone()

    def iso(value) -> str | None:
        if not value:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


_NAMED = {"owner": "owner__username", "backup_owner": "backup_owner__username", "team": "team__slug"}


class IdentityListSerializer(IdentitySerializer):
    """The list's rows, written out by hand from plain values: the same fields and values as
    `IdentitySerializer` (a test compares the two on every kind of row). DRF's per-field machinery
    was a third of the identities list's time at estate scale, and building 50 identities with
    their owners and team as model instances most of what remained (bench/README.md). The list
    reads `COLUMNS` with `.values()`; what every row shares (the time zone, the link's pattern) is
    worked out once per list."""

    # The columns a row is written from: the identity's own, and the people and team it names.
    NAMED_COLUMNS = tuple(_NAMED.values())
    COLUMNS = (
        *(name for name in IdentitySerializer.Meta.fields if name not in _NAMED and name != "url"),
        *NAMED_COLUMNS,
    )

    def to_representation(self, obj):
        return self.row_writer(self.context.get("fields"))(_as_values(obj))

    @staticmethod
    def row_writer(fields: tuple[str, ...] | None = None):
        """A function from an identity's `COLUMNS` (a dict) to its row; with `fields` (`?fields=`),
        to those fields only, in the serializer's order."""
        iso = _iso_writer()
        page = id_links("inventory:detail")

        def row(values: dict) -> dict:
            due = values["next_review_due"]
            return {
                "id": values["id"],
                "name": values["name"],
                "kind": values["kind"],
                "vendor": values["vendor"],
                "product": values["product"],
                "model_name": values["model_name"],
                "purpose": values["purpose"],
                "owner": values["owner__username"],
                "backup_owner": values["backup_owner__username"],
                "team": values["team__slug"],
                "environments": values["environments"],
                "data_classification": values["data_classification"],
                "autonomous": values["autonomous"],
                "risk_tier": values["risk_tier"],
                "risk_reasons": values["risk_reasons"],
                "status": values["status"],
                "status_reason": values["status_reason"],
                "last_used_at": iso(values["last_used_at"]),
                "last_reviewed_at": iso(values["last_reviewed_at"]),
                "next_review_due": due.isoformat() if due else None,
                "approved_at": iso(values["approved_at"]),
                "source": values["source"],
                "external_id": values["external_id"],
                "vanished": values["vanished"],
                "vanished_at": iso(values["vanished_at"]),
                "remediation": values["remediation"],
                "remediation_error": values["remediation_error"],
                "remediation_requested_at": iso(values["remediation_requested_at"]),
                "remediation_confirmed_at": iso(values["remediation_confirmed_at"]),
                "created_at": iso(values["created_at"]),
                "updated_at": iso(values["updated_at"]),
                "version": values["version"],
                "url": page(values["id"]),
            }

        if fields is None:
            return row

        def some(values: dict) -> dict:
            full = row(values)
            return {name: full[name] for name in fields}

        return some


def _as_values(obj) -> dict:
    """An identity model instance as the list's `.values(*COLUMNS)` gives it."""
    if isinstance(obj, dict):
        return obj
    owner, backup, team = obj.owner, obj.backup_owner, obj.team
    values = {name: getattr(obj, name) for name in IdentityListSerializer.COLUMNS if "__" not in name}
    values["owner__username"] = owner.username if owner is not None else None
    values["backup_owner__username"] = backup.username if backup is not None else None
    values["team__slug"] = team.slug if team is not None else None
    return values


class PendingScopeChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    add_grants = serializers.ListField(child=serializers.DictField())
    remove_grants = serializers.ListField(child=serializers.IntegerField())
    environments = serializers.ListField(child=serializers.CharField(), allow_null=True)
    changes = serializers.DictField(help_text="What the identity becomes once approved: {field: value}.")
    risk_tier = serializers.CharField(help_text="The tier it is routed by (re-tiered on the result).")
    url = serializers.CharField()


class PendingNominationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The ownership transfer (`ownership-transfers/{id}/`).")
    role = serializers.ChoiceField(choices=["owner", "backup_owner"])
    to_owner = serializers.CharField(help_text="Who is asked; the seat changes once they accept.")


class PendingActivationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The activation request (`activation-requests/{id}/`).")
    origin = serializers.CharField()
    risk_tier = serializers.CharField()
    url = serializers.CharField()


class PendingChangesSerializer(serializers.Serializer):
    """What is asked for this identity and not yet in force (approvals, nominees' answers)."""

    scope_changes = PendingScopeChangeSerializer(many=True)
    ownership_transfers = PendingNominationSerializer(many=True)
    activation = PendingActivationSerializer(allow_null=True)


def _pending(identity_ref) -> dict:
    """What may be pending for an identity (`identity_ref`: an identity or OuterRef("pk"))."""
    from inventory.models import ActivationRequest, OwnershipTransfer, ScopeChange

    return {
        "scope_changes": ScopeChange.objects.filter(identity=identity_ref, state=ScopeChange.State.PENDING),
        "transfers": OwnershipTransfer.objects.filter(
            identity=identity_ref, state=OwnershipTransfer.State.PROPOSED
        ),
        "activation": ActivationRequest.objects.filter(
            identity=identity_ref, state=ActivationRequest.State.PENDING
        ),
    }


PENDING_FLAGS = ("_pending_scope_changes", "_pending_transfers", "_pending_activation")


def with_pending_flags(queryset):
    """Whether anything is pending, read with the identity itself: `pending_changes` then asks only
    for what exists (usually nothing: three queries saved on every identity read)."""
    return queryset.annotate(
        **{f"_pending_{key}": Exists(rows) for key, rows in _pending(OuterRef("pk")).items()}
    )


def pending_changes(identity: Identity) -> dict:
    def asked(key: str) -> bool:  # unknown (not annotated): ask
        return getattr(identity, f"_pending_{key}", True)

    # Usually nothing is pending: the three querysets are not even built then.
    pending = _pending(identity) if any(asked(f.removeprefix("_pending_")) for f in PENDING_FLAGS) else {}

    scope_changes = pending["scope_changes"].order_by("pk") if asked("scope_changes") else []
    transfers = pending["transfers"].select_related("to_owner").order_by("pk") if asked("transfers") else []
    activation = pending["activation"].first() if asked("activation") else None
    return {
        "scope_changes": [
            {
                "id": c.pk,
                "state": c.state,
                "add_grants": c.add_grants,
                "remove_grants": c.remove_grants,
                "environments": c.environments,
                "changes": c.changes,
                "risk_tier": c.risk_tier,
                "url": c.get_absolute_url(),
            }
            for c in scope_changes
        ],
        "ownership_transfers": [
            {"id": t.pk, "role": t.role, "to_owner": t.to_owner.username} for t in transfers
        ],
        "activation": (
            {
                "id": activation.pk,
                "origin": activation.origin,
                "risk_tier": activation.risk_tier,
                "url": activation.get_absolute_url(),
            }
            if activation is not None
            else None
        ),
    }


class IdentityDetailSerializer(IdentitySerializer):
    grants = GrantSerializer(many=True, read_only=True)
    credentials = CredentialSerializer(many=True, read_only=True)
    findings = serializers.SerializerMethodField()
    exceptions = serializers.SerializerMethodField()
    pending_changes = serializers.SerializerMethodField()

    class Meta(IdentitySerializer.Meta):
        fields = [
            *IdentitySerializer.Meta.fields,
            "grants",
            "credentials",
            "findings",
            "exceptions",
            "pending_changes",
        ]
        read_only_fields = fields

    def to_representation(self, obj):
        return detail_representation(_as_values(obj), obj, obj.grants.all(), obj.credentials.all())

    # For the schema: to_representation writes these fields (detail_representation).
    def get_findings(self, obj) -> list[dict]:
        return extensions.related(obj, "findings")

    def get_exceptions(self, obj) -> list[dict]:
        return extensions.related(obj, "exceptions")

    @extend_schema_field(PendingChangesSerializer)
    def get_pending_changes(self, obj) -> dict:
        return pending_changes(obj)


def detail_representation(values: dict, identity: Identity, grants, credentials) -> dict:
    """An identity's detail: its list row (`values`: the list's `COLUMNS`), its grants and
    credentials, and what other apps relate to it. Written by hand, as the list's rows are: the same
    keys and values as DRF's fields give (a test compares the two on a rich identity), without DRF's
    per-field machinery over the identity, each grant and each credential. The API's detail reads
    its rows from kept statements (`inventory.api.read_detail`); writes answer from model instances."""
    iso = _iso_writer()
    return {
        **IdentityListSerializer.row_writer()(values),
        "grants": [
            {
                "id": grant.pk,
                "resource_kind": grant.resource_kind,
                "resource_name": grant.resource_name,
                "actions": grant.actions,
                "expires_at": iso(grant.expires_at),
                "origin": grant.origin,
                "created_at": iso(grant.created_at),
                "last_used_at": iso(grant.last_used_at),
                "ended_at": iso(grant.ended_at),
                "end_reason": grant.end_reason,
                "is_current": grant.is_current,
            }
            for grant in grants
        ],
        "credentials": [
            {
                "id": credential.pk,
                "kind": credential.kind,
                "label": credential.label,
                "storage": credential.storage,
                "issued_at": iso(credential.issued_at),
                "expires_at": iso(credential.expires_at),
                "last_rotated_at": iso(credential.last_rotated_at),
                "revoked_at": iso(credential.revoked_at),
                "revocation_confirmed_at": iso(credential.revocation_confirmed_at),
                "revocation_confirmed_by": credential.revocation_confirmed_by,
                "revocation_pending": credential.revocation_pending,
            }
            for credential in credentials
        ],
        "findings": extensions.related(identity, "findings"),
        "exceptions": extensions.related(identity, "exceptions"),
        "pending_changes": pending_changes(identity),
    }


# ---------------------------------------------------------------- input


class GrantInputSerializer(serializers.Serializer):
    resource_kind = serializers.ChoiceField(choices=ResourceKind.choices)
    resource_name = serializers.CharField(max_length=RESOURCE_NAME_LENGTH)
    actions = serializers.ListField(child=serializers.ChoiceField(choices=Action.choices), allow_empty=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class CredentialInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Credential.Kind.choices)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    storage = serializers.CharField(max_length=200, required=False, allow_blank=True)
    issued_at = serializers.DateTimeField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    last_rotated_at = serializers.DateTimeField(required=False, allow_null=True)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            extra = set(data) - set(self.fields)
            if extra:
                raise serializers.ValidationError(
                    {f: "Unknown field: credentials hold metadata only, never a secret value." for f in extra}
                )
        return super().to_internal_value(data)


class CredentialAddSerializer(CredentialInputSerializer):
    """POST identities/{id}/credentials/: one more credential's metadata, and why."""

    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class RotationSerializer(serializers.Serializer):
    """POST identities/{id}/credentials/{credential_id}/rotate/: the secret behind it was replaced."""

    rotated_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it was rotated; now when left out."
    )
    label = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The new label or fingerprint, when it changed. Never the secret.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    note = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, help_text="A ticket or change reference."
    )


class IdentityWriteSerializer(serializers.Serializer):
    """POST identities/ (IAM/Security) and PATCH identities/{id}/: the intake fields and a few more."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Identity.Kind.choices)
    vendor = serializers.CharField(max_length=120, required=False, allow_blank=True)
    product = serializers.CharField(max_length=120, required=False, allow_blank=True)
    model_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    purpose = serializers.CharField(required=False, allow_blank=True)
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    backup_owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True
    )
    environments = serializers.ListField(
        child=serializers.ChoiceField(choices=Environment.choices), required=False
    )
    data_classification = serializers.ChoiceField(choices=DataClassification.choices, required=False)
    autonomous = serializers.BooleanField(required=False)
    risk_tier = serializers.ChoiceField(
        choices=Identity.RiskTier.choices,
        required=False,
        help_text="May be raised above the computed tier (give a `reason`); never set below it (400).",
    )
    source = serializers.CharField(max_length=60, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    # Create only.
    grants = GrantInputSerializer(many=True, required=False)
    credentials = CredentialInputSerializer(many=True, required=False)
    credential_kind = serializers.ChoiceField(choices=Credential.Kind.choices, required=False)
    # Update only.
    version = serializers.IntegerField(required=False, min_value=1)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)

    CREATE_ONLY = ("grants", "credentials", "credential_kind")

    def validate(self, attrs):
        if self.partial:
            sent = [f for f in self.CREATE_ONLY if f in attrs]
            if sent:
                raise serializers.ValidationError(
                    {f: "Change grants and credentials through a scope change, not an edit." for f in sent}
                )
        if "environments" in attrs:
            attrs["environments"] = sorted(set(attrs["environments"]))
        return attrs


class TransitionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class UsageEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageEvent
        fields = [
            "id",
            "identity",
            "at",
            "action",
            "resource_kind",
            "resource_name",
            "environment",
            "identity_status",
            "after_revocation",
            "out_of_scope",
            "reported_by",
            "received_at",
        ]
        read_only_fields = fields
