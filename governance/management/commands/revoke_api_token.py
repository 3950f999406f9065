from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from governance.actors import system
from governance.errors import IllegalTransition
from governance.people.models import ApiToken
from inventory.tokens import revoke_token


class Command(BaseCommand):
    help = (
        "Revoke the API token whose prefix is PREFIX (as shown at issue, e.g. stw_AbCdEfGh). "
        "Its inventory identity is decommissioned and the revocation recorded in the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("prefix")
        parser.add_argument("--reason", default="Revoked by an operator with revoke_api_token.")

    def handle(self, *args, prefix, reason, **options):
        prefix = prefix.strip().rstrip("…").rstrip(".")
        token = ApiToken.objects.filter(key_prefix=prefix).first()
        if token is None:
            raise CommandError(f"No API token with prefix '{prefix}'.")
        try:
            token = revoke_token(system("revoke_api_token"), token, reason)
        except (IllegalTransition, ValidationError) as exc:
            raise CommandError(getattr(exc, "message", None) or str(exc))
        self.stdout.write(
            f"Revoked token {token.key_prefix}… of {token.user.username}; "
            f"identity #{token.identity_id} decommissioned."
        )
