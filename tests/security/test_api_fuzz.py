"""Fuzz the REST API with schemathesis against its own OpenAPI schema, on a live server.

Every operation gets generated bodies, queries and paths, sent over HTTP with a real write-scoped
bearer token of an IAM approver (who may call almost everything). Two checks hold for every case:
the server never answers 5xx, and each response matches the schema's status codes and shapes.

`make test` runs a bounded number of examples per operation (STEWARD_FUZZ_EXAMPLES, default 5);
`make fuzz` runs many more.
"""

from __future__ import annotations

import json

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    response_schema_conformance,
    status_code_conformance,
)

from governance.actors import system  # noqa: E402
from inventory.tokens import issue_token  # noqa: E402
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory  # noqa: E402
from tests.security.fuzz_support import EXAMPLES, openapi  # noqa: E402

# Operations whose success is a file or a long-running side effect rather than JSON.
SKIP_PATHS = ("/api/v1/evidence-exports/{id}/download/",)


@pytest.fixture
def auth_headers(live_server, iam, owner):
    identity = IdentityFactory(owner=owner, name="fuzz-target", environments=["dev"])
    GrantFactory(identity=identity)
    CredentialFactory(identity=identity)
    _token, value = issue_token(system("test"), iam, scope="write", days=1)
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.django_db
def test_the_served_schema_is_the_one_fuzzed(client, iam):
    client.force_login(iam)
    served = client.get("/api/schema/?format=json")
    assert served.status_code == 200
    assert json.loads(served.content)["paths"].keys() == openapi()["paths"].keys()


schema = schemathesis.openapi.from_dict(openapi()).exclude(path=list(SKIP_PATHS))


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_api_fail_and_responses_match_the_schema(case, auth_headers, live_server):
    case.call_and_validate(
        base_url=live_server.url,
        headers=auth_headers,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
