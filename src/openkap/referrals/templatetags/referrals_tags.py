from django import template

from openkap.accounts.models import Organization
from openkap.referrals.services import clinic_crisis_text

register = template.Library()


@register.simple_tag
def clinic_crisis(organization: Organization) -> str:
    """The clinic's own crisis resources when it has set them (the 988 line is always shown)."""
    return clinic_crisis_text(organization)
