from django import template

from openkap.accounts.models import Organization

register = template.Library()


@register.simple_tag
def clinic_crisis(organization: Organization) -> str:
    """The clinic's own crisis resources when it has set them (the 988 line is always shown)."""
    return organization.own_crisis_resources
