import pytest
from django.utils import timezone


@pytest.fixture
def now():
    """Today at noon: the evidence tests count days before and after it."""
    return timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
