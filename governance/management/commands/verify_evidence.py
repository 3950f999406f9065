from django.core.management.base import BaseCommand, CommandError

from governance.evidence.verifier import verify_pack


class Command(BaseCommand):
    help = "Verify an evidence pack against its manifest and the live audit chain."

    def add_arguments(self, parser):
        parser.add_argument("pack", help="Path to the evidence pack (.zip)")

    def handle(self, *args, **options):
        result = verify_pack(options["pack"])
        if result.ok:
            self.stdout.write(self.style.SUCCESS(result.message))
            return
        for problem in result.problems:
            self.stderr.write(problem)
        raise CommandError("evidence pack does not verify: " + result.message, returncode=1)
