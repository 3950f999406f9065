from django.core.management.base import BaseCommand, CommandError

from governance.audit import verify_chain


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain. Exit 0 when intact; else exit 1 with the first broken sequence."
    )

    def handle(self, *args, **options):
        report = verify_chain()
        if report.ok:
            self.stdout.write(f"audit chain intact: {report.checked} events, head {report.head_hash}")
            return
        raise CommandError(
            f"audit chain broken at sequence {report.broken_seq}: {report.reason} "
            f"({report.checked} events verified before it)",
            returncode=1,
        )
