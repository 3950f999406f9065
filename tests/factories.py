import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from governance.people.models import Role, Team, User
from inventory.models import Credential, Grant, Identity


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    team = factory.SubFactory(TeamFactory, slug="platform")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set([Group.objects.get_or_create(name=r)[0] for r in extracted])
        if create:
            self.save()


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    name = factory.Sequence(lambda n: f"identity-{n}")
    kind = Identity.Kind.AI_ASSISTANT
    vendor = "Anthropic"
    product = "Claude Code"
    owner = factory.SubFactory(UserFactory, roles=[Role.OWNER])
    team = factory.LazyAttribute(lambda o: o.owner.team if o.owner else None)
    environments = factory.LazyFunction(lambda: ["dev"])
    risk_tier = Identity.RiskTier.LOW
    status = Identity.Status.ACTIVE
    approved_at = factory.LazyFunction(timezone.now)


class GrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Grant

    identity = factory.SubFactory(IdentityFactory)
    resource_kind = "repository"
    resource_name = factory.Sequence(lambda n: f"org/repo-{n}")
    actions = factory.LazyFunction(lambda: ["read_code"])


class CredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Credential

    identity = factory.SubFactory(IdentityFactory)
    kind = Credential.Kind.STATIC_KEY
    label = factory.Sequence(lambda n: f"key-{n}")
    storage = "Vault kv/ci"
    issued_at = factory.LazyFunction(timezone.now)


# The one just-in-time ask the tests make unless they say otherwise: merge to platform/api in prod.
MERGE_PLATFORM_API = {
    "action": "merge",
    "resource": {"kind": "repository", "name": "platform/api"},
    "environment": "prod",
}


def request_merge_access(requester, identity, **fields):
    """A just-in-time request (governance/decisions/jit.py) for `identity` to merge to platform/api in
    prod for 30 minutes; `fields` override or add to the form (duration_minutes, reason, task_ref...)."""
    from governance.decisions import jit

    data = {"identity": identity.pk, **MERGE_PLATFORM_API, "duration_minutes": 30, "reason": "release 1.2"}
    return jit.request_access(requester, {**data, **fields})
