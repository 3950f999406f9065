"""python manage.py sync_connector NAME [--dry-run]: run one connector's sync now, in this process."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from connectors.models import Connector
from connectors.services import start_run
from connectors.sync import execute_run
from governance.actors import system
from governance.errors import IllegalTransition


class Command(BaseCommand):
    help = "Sync one connector now (discover, reconcile, flag what vanished); --dry-run writes nothing."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The connector's name.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change as JSON; change nothing."
        )

    def handle(self, *args, name: str, dry_run: bool, **options):
        connector = Connector.objects.filter(name=name).first()
        if connector is None:
            known = ", ".join(Connector.objects.values_list("name", flat=True)) or "none registered"
            raise CommandError(f"No connector named '{name}' ({known}).")
        try:
            run = start_run(
                system("sync_connector"), connector, dry_run=dry_run, trigger="command", enqueue=False
            )
        except IllegalTransition as exc:
            raise CommandError(exc.message)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages))
        run = execute_run(run.pk)
        if run is None:
            raise CommandError("Another worker took this run.")
        summary = {
            "connector": connector.name,
            "run": run.pk,
            "state": run.state,
            "dry_run": run.dry_run,
            "seen": run.seen,
            "discovered": run.discovered,
            "changed": run.changed,
            "vanished": run.vanished,
            "errors": run.errors,
        }
        if dry_run:
            summary["report"] = run.report
        if run.error_details:
            summary["error_details"] = run.error_details
        self.stdout.write(json.dumps(summary, indent=2, default=str))
        if run.state != run.State.SUCCEEDED:
            raise CommandError(
                f"Run {run.pk} failed: {run.error_details[-1]['error'] if run.error_details else ''}"
            )
