from django.core.management.base import BaseCommand, CommandError

from governance import signing
from governance.actors import system


class Command(BaseCommand):
    help = (
        "Make a new signing key for PURPOSE under STEWARD_SIGNING_KEY_DIR (creating the first one if none); "
        "the old key's public half moves to retired/ and stays in /.well-known/jwks.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("purpose", choices=sorted(signing.PURPOSES))
        parser.add_argument("--reason", default="rotated by an operator")

    def handle(self, *args, **options):
        try:
            key = signing.rotate_and_record(
                system("rotate_signing_key"), options["purpose"], reason=options["reason"]
            )
        except (OSError, signing.SigningKeyError) as exc:
            message = f"could not rotate the {options['purpose']} key: {exc}"
            raise CommandError(message, returncode=1) from None
        self.stdout.write(f"{options['purpose']}: {key.algorithm} key {key.kid} signs from now on")
