import pytest


@pytest.fixture(autouse=True)
def _fast_forms(settings):
    """People take seconds; tests take none. The minimum fill time has its own test."""
    settings.REFERRAL_MIN_FILL_SECONDS = 0



@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for the commit (emails) when the block ends: a test's own
    transaction never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
