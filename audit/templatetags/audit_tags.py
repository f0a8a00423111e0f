from django import template

register = template.Library()


@register.filter
def has_scope(user, scope: str) -> bool:
    """`{% if user|has_scope:"audit:read" %}`: Django's `perms` can't look up scope names."""
    return bool(user and user.has_perm(scope))
