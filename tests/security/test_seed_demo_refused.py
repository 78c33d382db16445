"""Issue 13, finding 5: `openkap seed-demo` ran with DEBUG off and created demo staff
with the public password and published TOTP secrets."""

import pytest
from django.core.management import CommandError, call_command

from openkap.accounts.models import User


@pytest.mark.parametrize(("debug", "demo"), [(False, False), (True, False), (False, True)])
def test_seed_demo_is_refused_outside_demo_mode(db, settings, debug, demo):
    settings.DEBUG, settings.DEMO_MODE = debug, demo
    with pytest.raises(CommandError, match="DEBUG=true and OPENKAP_DEMO=true"):
        call_command("seed_demo", "--patients", "1")
    assert not User.objects.exists()
