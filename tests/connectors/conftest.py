import pytest

from tests.connectors.moto_support import FAKE_CREDENTIALS, iam_client, moto_server, reset


@pytest.fixture(scope="session")
def moto_url():
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_url, monkeypatch):
    """An empty IAM at moto's server, boto3's default chain pointed at placeholder credentials."""
    reset(moto_url)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return iam_client(moto_url)


@pytest.fixture
def connector(iam, moto_url, aws):
    from connectors.services import create_connector

    return create_connector(
        iam,
        {"name": "aws-test", "kind": "aws_iam", "config": {"endpoint_url": moto_url}, "schedule": "manual"},
    )
