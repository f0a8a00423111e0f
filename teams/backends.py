from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from teams import scopes

UserModel = get_user_model()


class ScopeBackend(ModelBackend):
    """Email + password sign-in, and scopes answered through Django's permission API.

    `user.has_perm("audit:read")` is true when the person's role holds that scope, so views
    and the admin ask the same question. Operators (superusers) hold every scope; a deactivated
    person holds none.
    """

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        """The person's scopes. Django's per-model permissions (groups, user permissions) are
        not used here, so they are not loaded: that saves two queries on every request that
        checks a permission."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return set(scopes.ALL_SCOPES)
        role = user_obj.role
        return set(role.scope_set) if role is not None else set()

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)

    def get_user(self, user_id):
        """The signed-in person with their role and tenant, which nearly every request reads
        (scopes, session limits, the page header), in one query."""
        user = (
            UserModel._default_manager.select_related("role", "tenant").filter(pk=user_id).first()
        )
        return user if user is not None and self.user_can_authenticate(user) else None
