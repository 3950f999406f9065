from django.core.management.base import BaseCommand, CommandError

from governance.jobs import registry
from governance.jobs.runner import run_job

DEFAULT_ORDER = ["expiry", "sweep", "review_cadence", "reminders", "posture_snapshot"]


class Command(BaseCommand):
    help = "Run the scheduled governance jobs once, now (all of them, or one with --job NAME)."

    def add_arguments(self, parser):
        parser.add_argument("--job", help="Run only this job. Use --list to see the names.")
        parser.add_argument("--list", action="store_true", help="List the registered jobs and exit.")

    def handle(self, *args, job=None, list=False, **options):
        jobs = registry.jobs()
        if list:
            for name, hook in jobs.items():
                self.stdout.write(f"{name:18} {hook.description}")
            return
        if job and job not in jobs:
            raise CommandError(f"Unknown job '{job}'. Known jobs: {', '.join(sorted(jobs))}.")
        names = (
            [job] if job else [n for n in DEFAULT_ORDER if n in jobs] + sorted(set(jobs) - set(DEFAULT_ORDER))
        )
        failed = []
        for name in names:
            try:
                run = run_job(name, trigger="command")
            except Exception as exc:  # noqa: BLE001 - report and carry on with the other jobs
                failed.append(name)
                self.stderr.write(f"{name}: failed: {exc.__class__.__name__}: {exc}")
                continue
            self.stdout.write(f"{name}: ok {_short(run.summary)}")
        if failed:
            raise CommandError(f"{len(failed)} job(s) failed: {', '.join(failed)}", returncode=1)


def _short(summary: dict) -> str:
    keys = [k for k, v in summary.items() if not isinstance(v, dict | list)]
    return ", ".join(f"{k}={summary[k]}" for k in keys[:8])
