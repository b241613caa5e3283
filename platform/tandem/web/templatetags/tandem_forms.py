"""Template tags of the pages' forms."""

import uuid

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def form_key() -> str:
    """A hidden `form_key`, fresh for each rendered form, that views.common.start passes as the
    job's idempotency key: the same rendered form submitted twice starts one job."""
    return format_html('<input type="hidden" name="form_key" value="{}">', uuid.uuid4().hex)
