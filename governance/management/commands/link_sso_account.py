from django.core.management.base import BaseCommand, CommandError

from governance.actors import system
from governance.people.models import User
from governance.people.sso import link_account


class Command(BaseCommand):
    help = (
        "Link the Steward account USERNAME to an identity provider subject, so that SSO signs in as it. "
        "Steward never does this by matching a username or e-mail; superusers cannot be linked."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--issuer", required=True, help="The provider's issuer URL (the ID token's iss).")
        parser.add_argument(
            "--sub", required=True, help="The provider's subject for the person (the ID token's sub)."
        )
        parser.add_argument("--reason", default="", help="Why; kept in the audit log.")

    def handle(self, *args, username, issuer, sub, reason, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named '{username}'.")
        try:
            link_account(system("link_sso_account"), user, issuer=issuer, subject=sub, reason=reason)
        except ValueError as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"{username} now signs in through SSO as {sub} at {issuer}.")
