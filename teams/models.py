from django.core.exceptions import ValidationError
from django.db import models

from teams import scopes


class TenantQuerySet(models.QuerySet):
    """The one place tenant scoping happens for tenant-owned rows."""

    def for_tenant(self, tenant: "Tenant") -> "TenantQuerySet":
        return self.filter(tenant=tenant)


class Tenant(models.Model):
    """An MSP: its people, roles, sessions and audit trail belong to it alone."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def validate_scope_keys(value: list) -> None:
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise ValidationError("Scopes must be a list of scope names.", code="invalid_scopes")
    unknown = sorted(set(value) - scopes.ALL_SCOPES)
    if unknown:
        raise ValidationError(
            "Unknown scopes: %(unknown)s.",
            code="unknown_scopes",
            params={"unknown": ", ".join(unknown)},
        )


class Role(models.Model):
    """A named set of scopes within one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=80)
    scopes = models.JSONField(default=list, blank=True, validators=[validate_scope_keys])
    is_builtin = models.BooleanField(default=False, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="role_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes) & scopes.ALL_SCOPES
