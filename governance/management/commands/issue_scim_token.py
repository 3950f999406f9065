from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from governance import audit
from governance.actors import system
from governance.people.models import User
from inventory.tokens import issue_token

SERVICE_USER = "scim-provisioner"


class Command(BaseCommand):
    help = (
        f"Issue a token of scope 'scim' for the identity provider's SCIM client, held by the service user "
        f"'{SERVICE_USER}' (created on first use: active, no role, no password, not staff). The value is "
        "printed once; only its hash is stored, and the token is registered as an identity."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="Days until it expires (1-366).")
        parser.add_argument("--name", default="SCIM provisioning", help="A label for the token.")

    @transaction.atomic
    def handle(self, *args, days, name, **options):
        actor = system("issue_scim_token")
        user = User.objects.select_for_update().filter(username=SERVICE_USER).first()
        if user is None:
            user = User(username=SERVICE_USER, display_name="SCIM provisioning (identity provider)")
            user.set_unusable_password()
            user.save()
            audit.record(
                actor,
                "user.created",
                user,
                after={"username": SERVICE_USER, "is_active": True, "roles": []},
                reason="Service user that holds the SCIM token.",
            )
        if not user.is_active:
            raise CommandError(f"'{SERVICE_USER}' is deactivated; an administrator reactivates it first.")
        if user.is_superuser or user.is_staff or user.groups.exists() or user.scim_managed:
            raise CommandError(
                f"'{SERVICE_USER}' is staff, a superuser, holds a role or is SCIM-managed; the SCIM token's "
                "holder must be none of these. Fix the account in the admin first."
            )
        try:
            token, value = issue_token(actor, user, scope="scim", days=days, name=name)
        except ValueError as exc:
            raise CommandError(str(exc))
        self.stderr.write(
            f"SCIM token {token.key_prefix}… for {SERVICE_USER}, expires {token.expires_at:%Y-%m-%d}. "
            f"Registered as identity #{token.identity_id}. Base URL: <Steward's URL>/scim/v2/. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(value)
