from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from accounts import lockout_counters
from accounts.models import User
from teams.models import Tenant

# Failures left before a lock from which the sign-in page warns.
LOCK_WARNING_FROM = 2
# Whether any tenant allows a passkey alone, for sign-in pages that know no tenant: cached, and
# forgotten when a tenant is saved (accounts/receivers.py); the lifetime bounds anything else.
PASSKEY_OFFERED_ANYWHERE_CACHE_KEY = "accounts:passkey_sign_in_offered_anywhere"
PASSKEY_OFFERED_ANYWHERE_SECONDS = 300


def password_change_reason(*, user: User) -> str | None:
    """Why this person must choose a new password before anything else, if they must:
    "breached" (found among breached passwords, accounts/breached.py), "required" (set on
    their account) or "expired" (older than their tenant allows)."""
    if user.password_breached_at is not None:
        return "breached"
    if user.password_change_required:
        return "required"
    tenant = user.tenant
    if tenant is None or not tenant.password_max_age_days or not user.has_usable_password():
        return None
    changed_at = user.password_changed_at or user.date_joined
    if timezone.now() - changed_at > timedelta(days=tenant.password_max_age_days):
        return "expired"
    return None


def new_password_due_for(user: User) -> bool:
    """A sign-in of this person waits for a new password (see `password_change_reason`)."""
    return password_change_reason(user=user) is not None


def sign_in_failures_left_to_warn(*, email: str) -> int | None:
    """Wrong passwords left before this email locks, when few enough to warn (else None)."""
    left = lockout_counters.failures_left(email=email)
    return left if 0 < left <= LOCK_WARNING_FROM else None


def passkey_sign_in_offered(*, tenant: Tenant | None) -> bool:
    """Whether the sign-in page offers "Use a passkey" (a passkey alone, no password).

    Only where it can succeed: mfa's door rule refuses a passkey alone unless the person's
    tenant allows it, so a person would do the fingerprint and then be refused. The page
    knows no one before the email is typed; it knows the tenant this browser last signed in
    to (`remembered_tenant`), and with none, whether any tenant allows it at all.

    The latter is read from the cache: the page is the sign-in's first request, and the
    answer changes only when a tenant's settings do.
    """
    if tenant is not None:
        return tenant.passwordless_sign_in
    try:
        offered = cache.get(PASSKEY_OFFERED_ANYWHERE_CACHE_KEY)
    except Exception:  # noqa: BLE001 - any cache failure falls back to the database
        return Tenant.objects.filter(passwordless_sign_in=True).exists()
    if offered is None:
        offered = Tenant.objects.filter(passwordless_sign_in=True).exists()
        cache.set(PASSKEY_OFFERED_ANYWHERE_CACHE_KEY, offered, PASSKEY_OFFERED_ANYWHERE_SECONDS)
    return offered


def passkey_sign_in_offered_forget() -> None:
    """With the cache down, the next page asks the database anyway (see above); a stale
    answer left in a cache that comes back ends with its lifetime."""
    try:
        cache.delete(PASSKEY_OFFERED_ANYWHERE_CACHE_KEY)
    except Exception:  # noqa: BLE001 - see above
        return


# --- the owner's to-dos (config/todos.py): each narrows a queryset of people the caller
# already scoped to what the viewer may see (`User.objects.visible_to`), so the dashboard's
# count and the people list's filter that the to-do links to agree.


def people_locked(people: QuerySet[User], *, now: datetime) -> QuerySet[User]:
    """The active people of `people` whose account is locked now."""
    return people.filter(is_active=True).filter(
        Exists(lockout_counters.email_locked_rows(OuterRef("email"), now))
    )


def people_with_breached_password(people: QuerySet[User]) -> QuerySet[User]:
    """The active people of `people` whose current password was found among breached ones
    (they must change it at their next sign-in; until then it is what an attacker would try)."""
    return people.filter(is_active=True, password_breached_at__isnull=False)
