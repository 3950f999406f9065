from django.core.management.base import BaseCommand, CommandError

from governance.actors import system
from governance.people.models import Role, User
from inventory.tokens import issue_token


class Command(BaseCommand):
    help = "Issue an API token for USERNAME. The value is printed once; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--scope",
            choices=["read", "write", "report"],
            default="read",
            help="read: GET only; write: what the holder may do; report: usage reports for any "
            "identity and nothing else (holder with IAM/Security, or --issued-by an IAM approver).",
        )
        parser.add_argument(
            "--issued-by",
            default="",
            help="The IAM approver issuing a 'report' token for a machine's user (recorded as the actor).",
        )
        parser.add_argument("--days", type=int, default=90, help="Days until it expires (1-366).")
        parser.add_argument("--name", default="", help="A label for the token.")

    def handle(self, *args, username, scope, days, name, issued_by, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named '{username}'.")
        actor = system("issue_api_token")
        if issued_by:
            issuer = User.objects.filter(username=issued_by, is_active=True).first()
            if issuer is None or not issuer.has_role(Role.IAM) or issuer.is_auditor:
                raise CommandError(f"--issued-by: '{issued_by}' is not an active IAM approver.")
            actor = issuer
        try:
            token, value = issue_token(actor, user, scope=scope, days=days, name=name)
        except ValueError as exc:
            raise CommandError(str(exc))
        self.stderr.write(
            f"Token {token.key_prefix}… for {username}, scope {scope}, expires {token.expires_at:%Y-%m-%d}. "
            f"Registered as identity #{token.identity_id}. Store it now: it is not shown again."
        )
        self.stdout.write(value)
