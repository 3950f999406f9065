from django.core.management.base import BaseCommand
from django.db import transaction

from governance.demo import DEMO_PASSWORD, seed_people, seed_release_train_policy


class Command(BaseCommand):
    help = "Create the demo users (owner, owner2, iam, iam2, security, auditor) and an estate. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument("--size", choices=["small", "large"], default="small")

    def handle(self, *args, password, size, **options):
        with transaction.atomic():
            users = seed_people(password)
        from inventory.demo import build_estate

        created = build_estate(users, size=size, stdout=self.stdout)
        seed_release_train_policy()  # the agent threat profiles' demo story (governance/demo.py)
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {len(users)} users, {created} new identities."))
