"""No-store on every answer to a signed-in person or a token, and on downloads (issue 18, item 15)."""

import pytest
from rest_framework.test import APIClient

from governance.actors import system
from inventory.tokens import issue_token
from tests.factories import IdentityFactory
from tests.governance.evidence_support import export_now, small_estate


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/inventory/", "/audit/", "/evidence/", "/api/v1/identities/", "/api/v1/audit-events/"]
)
def test_pages_and_api_answers_to_a_signed_in_person_are_no_store(client, iam, owner, path):
    IdentityFactory(owner=owner)
    client.force_login(iam)
    response = client.get(path)
    assert response.status_code == 200
    assert no_store(response), response.get("Cache-Control")


@pytest.mark.django_db
def test_refusals_to_a_signed_in_person_are_no_store_too(client, owner):
    client.force_login(owner)
    response = client.get("/audit/")
    assert response.status_code == 403 and no_store(response)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [200, 401])
def test_api_answers_to_a_bearer_token_are_no_store(iam, status):
    _, value = issue_token(system("test"), iam, scope="read", days=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value if status == 200 else 'stw_wrong'}")
    response = client.get("/api/v1/identities/")
    assert response.status_code == status and no_store(response)


@pytest.mark.django_db
def test_exports_and_evidence_downloads_are_no_store(
    client, iam, auditor, owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    small_estate(owner)
    client.force_login(iam)
    csv_export = client.get("/inventory/export.csv")
    assert csv_export.status_code == 200 and no_store(csv_export)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    client.force_login(auditor)
    pack = client.get(f"/evidence/evidence-exports/{export.pk}/download/")
    assert pack.status_code == 200 and no_store(pack)
    assert pack["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_public_keys_keep_their_own_cache_header(anyone):
    # The JWKS is public, the same for everyone: cacheable even when a signed-in person fetches it.
    jwks = anyone.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and "public" in jwks["Cache-Control"] and not no_store(jwks)


@pytest.mark.django_db
def test_static_files_keep_their_cache_headers_for_signed_in_people(client, iam):
    client.force_login(iam)
    response = client.get("/static/css/steward.css")
    assert response.status_code == 200 and not no_store(response)
