from django.core.management.base import BaseCommand, CommandError

from governance import signing
from governance.evidence.verifier import verify_pack


class Command(BaseCommand):
    help = (
        "Verify an evidence pack: its signature (manifest.sig), every file, the row counts and its audit "
        "events; without --jwks also against the live audit chain. Exit 0 when it verifies, else 1 and why."
    )
    # With --jwks this runs where there is no database: nothing before handle() may need one.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("pack", help="Path to the evidence pack (.zip)")
        parser.add_argument(
            "--jwks",
            metavar="FILE_OR_URL",
            help="Steward's public keys (e.g. https://steward.example/.well-known/jwks.json or a saved "
            "copy); verifies with no database at all",
        )
        parser.add_argument(
            "--allow-unsigned",
            action="store_true",
            help="accept a pack without manifest.sig (made before packs were signed), reported as unsigned",
        )

    def handle(self, *args, **options):
        jwks = None
        if options["jwks"]:
            try:
                jwks = signing.load_jwks(options["jwks"])
            except (OSError, ValueError, signing.SigningKeyError) as exc:
                message = f"cannot read the key set {options['jwks']}: {exc}"
                raise CommandError(message, returncode=1) from None
        result = verify_pack(options["pack"], jwks=jwks, allow_unsigned=options["allow_unsigned"])
        if result.ok:
            style = self.style.SUCCESS if result.signed else self.style.WARNING
            self.stdout.write(style(result.message))
            return
        for problem in result.problems:
            self.stderr.write(problem)
        raise CommandError("evidence pack does not verify: " + result.message, returncode=1)
