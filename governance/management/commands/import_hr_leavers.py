from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.people.hr_import import LeaversRejected, import_leavers, parse_leavers


class Command(BaseCommand):
    help = (
        "Deactivate the people an HR leavers CSV names (columns: username or email, left_on) and "
        "re-home what they owned. All or nothing: a bad row names the row and imports nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file; change nothing.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            if options["dry_run"]:
                leavers = parse_leavers(text)
                self.stdout.write(f"{len(leavers)} leaver(s) found; nothing changed (dry run).")
                return
            result = import_leavers(text, source=path.name)
        except LeaversRejected as exc:
            raise CommandError("nothing imported:\n" + "\n".join(exc.errors)) from exc
        self.stdout.write(
            f"{len(result['deactivated'])} deactivated, {len(result['already_inactive'])} already inactive."
        )
        for username in result["deactivated"]:
            self.stdout.write(f"deactivated {username}")
