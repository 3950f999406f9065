from django.core.management.base import BaseCommand, CommandError

from governance import signing
from governance.checkpoints import verify_anchored_chain


class Command(BaseCommand):
    help = (
        "Verify the audit log: its hash chain, every signed checkpoint (truncation, rewriting) and the "
        "newest checkpoint's age. Exit 0 when all hold; else exit 1 saying what broke."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--jwks",
            metavar="FILE_OR_URL",
            help="check checkpoint signatures against this key set instead of the key files",
        )

    def handle(self, *args, **options):
        try:
            jwks = signing.load_jwks(options["jwks"]) if options["jwks"] else None
        except (OSError, signing.SigningKeyError) as exc:
            raise CommandError(f"cannot read the key set: {exc}", returncode=1) from None
        report = verify_anchored_chain(jwks=jwks)
        chain = report.chain
        problems = []
        if not chain.ok:
            problems.append(
                f"audit chain broken at sequence {chain.broken_seq}: {chain.reason} "
                f"({chain.checked} events verified before it)"
            )
        problems += report.problems
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError("; ".join(problems), returncode=1)
        newest = report.newest
        anchored = "no signed checkpoint yet"
        if newest:
            at = f"{newest.signed_at:%Y-%m-%d %H:%M} UTC"
            anchored = f"{report.checkpoints} signed checkpoints, newest #{newest.seq} at {at}"
        self.stdout.write(f"audit chain intact: {chain.checked} events, head {chain.head_hash}; {anchored}")
        for note in report.notes:
            self.stdout.write(f"note: {note}")
