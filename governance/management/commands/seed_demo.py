from django.core.management.base import BaseCommand
from django.db import transaction

from governance.demo import (
    DEMO_PASSWORD,
    run_first_reminders,
    seed_activity,
    seed_people,
    seed_release_train_policy,
)


class Command(BaseCommand):
    help = (
        "Create the demo users (owner, owner2, iam, iam2, security, security2, auditor), an estate and "
        "work in flight (an expiring exception, an overdue request, a review campaign). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument("--size", choices=["small", "large"], default="small")

    def handle(self, *args, password, size, **options):
        with transaction.atomic():
            users = seed_people(password)
        from inventory.demo import build_estate

        created = build_estate(users, size=size, stdout=self.stdout)
        seed_release_train_policy()  # the agent threat profiles' demo story (governance/demo.py)
        for line in seed_activity(users):
            self.stdout.write(f"demo: {line}")
        reminders = run_first_reminders()
        if reminders["escalated_subjects"]:
            self.stdout.write(f"demo: reminders escalated {reminders['escalated_subjects']} overdue item(s)")
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {len(users)} users, {created} new identities."))
