"""People: adding, inviting, editing, moving between roles, deactivating."""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.timesince import timeuntil
from django.utils.translation import gettext_lazy as _

from accounts.models import User, normalize_email
from audit.events import AuditEventType
from audit.services import (
    audit_event_record,
)
from outbox.links import site_link
from outbox.models import OutboxMail
from outbox.services import mail_enqueue
from teams import scopes
from teams.models import Role, Tenant
from teams.rules import (
    act_on,
    refuse_granting_more,
    refuse_other_tenant,
    refuse_removing_last_owner,
)
from teams.selectors import invitation_lapses_at, unlock_contact_for_tenant
from teams.services import access_list
from teams.services.common import model_update
from teams.services.remembered_browsers import remembered_browsers_forget
from teams.services.sessions import user_sessions_delete
from teams.tokens import invitation_token_generator, set_password_token_generator

INVITATION_MAIL_KIND = "invitation"
# "Send the invitation again" is limited per person: this many invitations an hour, the first
# one included.
INVITATIONS_PER_HOUR = 3
INVITATION_WINDOW = timedelta(hours=1)


def person_create(
    *,
    tenant: Tenant,
    email: str,
    role: Role,
    actor: User | None,
    full_name: str = "",
    password: str | None = None,
    request: HttpRequest | None = None,
) -> User:
    """Add a person to a tenant. Without a password they can't sign in until they set one.

    A person acting (`actor`) can only give roles whose scopes they hold themselves.
    """
    if role.tenant_id != tenant.pk:
        raise ValidationError(_("The role must belong to the same tenant."), code="foreign_role")
    if actor is not None:
        refuse_other_tenant(actor=actor, tenant=tenant)
        refuse_granting_more(actor=actor, granted=role.scope_set)
    with transaction.atomic():
        user = User.objects.create_user(
            email, password, full_name=full_name, tenant=tenant, role=role
        )
        audit_event_record(
            event=AuditEventType.PERSON_INVITED,
            actor=actor,
            tenant=tenant,
            target=user,
            request=request,
            details={"role": role.name},
        )
    return user


def _set_password_link(*, user: User, invitation: bool) -> str:
    """The emailed link to choose a password (an invitation's token lives longer)."""
    tokens = invitation_token_generator if invitation else set_password_token_generator
    return site_link(
        "accounts:password_reset_confirm",
        uidb64=urlsafe_base64_encode(force_bytes(user.pk)),
        token=tokens.make_token(user),
    )


def set_password_mail_context(*, user: User, invitation: bool = False) -> dict:
    now = timezone.now()
    lifetime = settings.INVITATION_TIMEOUT if invitation else settings.PASSWORD_RESET_TIMEOUT
    return {
        "person": user,
        "tenant": user.tenant,
        "link": _set_password_link(user=user, invitation=invitation),
        "valid_for": timeuntil(now + timedelta(seconds=lifetime), now),
        "contact": unlock_contact_for_tenant(tenant=user.tenant, exclude=user),
    }


# Where a person must sign in instead of with a password (the provider's name), or None. The
# answer is accounts' (`accounts.stages.password_sign_in_refusal`), which sits above teams, so
# accounts hands it over in its AppConfig.ready().
_sign_in_instead: list[Callable[..., str | None]] = []


def sign_in_instead_register(finder: Callable[..., str | None]) -> None:
    """`finder(user=person)` answers where `person` signs in instead of with a password."""
    if finder not in _sign_in_instead:
        _sign_in_instead.append(finder)


def _password_refused_for(person: User) -> str | None:
    return next(filter(None, (finder(user=person) for finder in _sign_in_instead)), None)


def _invitation_sent_now(person: User) -> None:
    """Record that an invitation's set-password link is being mailed now, which voids every
    link mailed before it (`teams.tokens.InvitationTokenGenerator`)."""
    sent_at = timezone.now()
    previous = person.invitation_sent_at
    # Two sends within one tick of the clock would hash alike and leave the older link working.
    if previous is not None and sent_at <= previous:
        sent_at = previous + timedelta(microseconds=1)
    person.invitation_sent_at = sent_at
    person.save(update_fields=["invitation_sent_at"])


def invitation_enqueue(*, person: User, invited_by: User | None) -> None:
    """Mail an invitation: a link to choose a password, or, when the person's tenant requires
    single sign-on for them, how they sign in instead (through the provider, by name). A
    password link there would be a door the policy has closed."""
    provider = _password_refused_for(person)
    if provider is None:
        _invitation_sent_now(person)
        context = set_password_mail_context(user=person, invitation=True)
    else:
        context = {
            "person": person,
            "tenant": person.tenant,
            "provider": provider,
            "sign_in_link": site_link("accounts:login"),
            "contact": unlock_contact_for_tenant(tenant=person.tenant, exclude=person),
        }
    mail_enqueue(
        to=person.email, kind=INVITATION_MAIL_KIND, context={**context, "invited_by": invited_by}
    )


def person_invite(
    *,
    tenant: Tenant,
    email: str,
    role: Role,
    actor: User | None,
    full_name: str = "",
    request: HttpRequest | None = None,
) -> User:
    """Add a person to a tenant and mail them a link to choose their own password, together:
    if the mail can't be written to the outbox, the person isn't added either."""
    with transaction.atomic():
        person = person_create(
            tenant=tenant,
            email=email,
            role=role,
            actor=actor,
            full_name=full_name,
            request=request,
        )
        invitation_enqueue(person=person, invited_by=actor)
    return person


def invitation_resend(*, person: User, actor: User, request: HttpRequest | None = None) -> None:
    """Mail a person who is still only invited (`invitation_lapses_at`) their invitation again,
    with a new link that voids the one before it; one event.

    Needs `members:write` over the person (`act_on`). At most INVITATIONS_PER_HOUR invitations
    (the first one included) go to a person in an hour: beyond that the owner is told to wait,
    so a hijacked owner account can't flood a mailbox.
    """
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_WRITE)
    with transaction.atomic():
        # Locking the person's row makes parallel sends count in turn.
        person = (
            User.objects.select_related("tenant", "role")
            .select_for_update(of=("self",))
            .get(pk=person.pk)
        )
        if not person.is_active:
            raise ValidationError(
                _("%(email)s is deactivated: reactivate them first."),
                code="inactive",
                params={"email": person.email},
            )
        if invitation_lapses_at(user=person) is None:
            raise ValidationError(
                _(
                    "%(email)s has already set a password or signed in: there is no invitation "
                    "to send again. Mail them a password-reset link instead."
                ),
                code="not_invited",
                params={"email": person.email},
            )
        sent = OutboxMail.objects.filter(
            kind=INVITATION_MAIL_KIND,
            to=person.email,
            created_at__gte=timezone.now() - INVITATION_WINDOW,
        ).count()
        if sent >= INVITATIONS_PER_HOUR:
            raise ValidationError(
                _(
                    "%(email)s has been sent %(count)d invitations in the last hour, the most "
                    "allowed: wait an hour before sending another."
                ),
                code="invitations_limited",
                params={"email": person.email, "count": sent},
            )
        invitation_enqueue(person=person, invited_by=actor)
        audit_event_record(
            event=AuditEventType.INVITATION_RESENT,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details={"lapses_at": invitation_lapses_at(user=person).isoformat()},
        )


def person_invite_or_notify(
    *,
    tenant: Tenant,
    email: str,
    role: Role,
    actor: User,
    full_name: str = "",
    request: HttpRequest | None = None,
) -> User | None:
    """Invite a new address; for one that already has an account, anywhere, invite nobody and
    tell that address that someone tried. Returns the person invited, or None.

    Whoever adds people must not learn from the answer whether an address has an account in
    some other tenant (or is an operator's): the caller shows the same thing either way. The
    address's owner hears of the attempt, and their own tenant's trail records it, so probing
    is seen by the people probed rather than by the prober.
    """
    email = normalize_email(email)
    refuse_other_tenant(actor=actor, tenant=tenant)
    refuse_granting_more(actor=actor, granted=role.scope_set)
    with transaction.atomic():
        existing = (
            User.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .filter(email=email)
            .first()
        )
        if existing is None:
            return person_invite(
                tenant=tenant,
                email=email,
                role=role,
                actor=actor,
                full_name=full_name,
                request=request,
            )
        audit_event_record(
            event=AuditEventType.INVITATION_FOR_EXISTING_ACCOUNT,
            actor=actor,
            tenant=existing.tenant,
            target=existing,
            request=request,
            details={"tenant": tenant.slug},
        )
        mail_enqueue(
            to=existing.email,
            kind="invitation_for_existing_account",
            context={"person": existing, "tenant": tenant, "invited_by": actor},
        )
    return None


def person_update(
    *,
    person: User,
    actor: User,
    email: str,
    full_name: str,
    request: HttpRequest | None = None,
) -> User:
    """Change a person's email or name; one event listing what changed.

    A new sign-in email is a new credential (`_sign_in_email_changed`): the old address is told
    and the person's other sessions end, and the event says how many.
    """
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_WRITE)
    email = normalize_email(email)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=person.pk)
        changed = model_update(
            instance=person,
            values={"email": email, "full_name": full_name},
            validate_exclude=("password",),
        )
        if not changed:
            return person
        details = {"changed": changed}
        if "email" in changed:
            details["sessions"] = _sign_in_email_changed(
                person=person, old_email=changed["email"][0], actor=actor, request=request
            )
        audit_event_record(
            event=AuditEventType.PERSON_EDITED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details=details,
        )
    return person


def _sign_in_email_changed(
    *, person: User, old_email: str, actor: User, request: HttpRequest | None
) -> int:
    """What a changed sign-in email undoes, like a changed password (ASVS 5.0 V6.3.7).

    The old address is mailed, so someone whose email was taken over hears of it where they
    still read mail. Every other session of the person ends: all of them when someone else made
    the change, all but the one in use when they made it themselves. Whatever else remembers
    the person between sign-ins belongs here too. Returns how many sessions ended.
    """
    mail_enqueue(
        to=old_email,
        kind="email_changed",
        context={
            "person": person,
            "old_email": old_email,
            "new_email": person.email,
            "changed_by": actor,
            "by_themselves": actor.pk == person.pk,
            "when": timezone.now(),
            "contact": unlock_contact_for_tenant(tenant=person.tenant, exclude=person),
        },
    )
    remembered_browsers_forget(
        user=person, actor=actor, reason="sign-in email changed", request=request
    )
    return user_sessions_delete(user=person, keep_session_key=_own_session(actor, person, request))


def person_role_change(
    *, person: User, role: Role, actor: User, request: HttpRequest | None = None
) -> User:
    """Give a person another role of their tenant, and end their sessions.

    Ending the sessions makes a demotion bite on the very next request, and a promotion start
    from a fresh sign-in. Acting on oneself keeps the session one is using.
    """
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_WRITE)
    if role.tenant_id != person.tenant_id:
        raise ValidationError(
            _("The role must belong to the person's tenant."), code="foreign_role"
        )
    refuse_granting_more(actor=actor, granted=role.scope_set)
    with transaction.atomic():
        person = (
            User.objects.select_related("role").select_for_update(of=("self",)).get(pk=person.pk)
        )
        previous = person.role
        if previous == role:
            return person
        if not role.is_owner:
            refuse_removing_last_owner(person=person)
        person.role = role
        person.save(update_fields=["role"])
        ended = user_sessions_delete(
            user=person, keep_session_key=_own_session(actor, person, request)
        )
        audit_event_record(
            event=AuditEventType.ROLE_CHANGED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details={
                "from": previous.name if previous else None,
                "to": role.name,
                "sessions": ended,
            },
        )
        access_list.access_list_exempt_owner_ensure(tenant=person.tenant)
    return person


def person_deactivate(*, person: User, actor: User, request: HttpRequest | None = None) -> User:
    """Stop a person from signing in, and end every session they have at once."""
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_DEACTIVATE)
    if person.pk == actor.pk:
        raise ValidationError(_("You can't deactivate yourself."), code="self")
    with transaction.atomic():
        person = (
            User.objects.select_related("role").select_for_update(of=("self",)).get(pk=person.pk)
        )
        if not person.is_active:
            return person
        refuse_removing_last_owner(person=person)
        person.is_active = False
        person.deactivated_at = timezone.now()
        person.save(update_fields=["is_active", "deactivated_at"])
        ended = user_sessions_delete(user=person)
        remembered_browsers_forget(user=person, actor=actor, reason="deactivated", request=request)
        audit_event_record(
            event=AuditEventType.PERSON_DEACTIVATED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
            details={"sessions": ended},
        )
        access_list.access_list_exempt_owner_ensure(tenant=person.tenant)
    return person


def person_reactivate(*, person: User, actor: User, request: HttpRequest | None = None) -> User:
    """Let a deactivated person sign in again. Counts as activity for stale-account checks."""
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_DEACTIVATE)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=person.pk)
        if person.is_active:
            return person
        person.is_active = True
        person.save(update_fields=["is_active"])
        audit_event_record(
            event=AuditEventType.PERSON_REACTIVATED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
        )
    return person


def _own_session(actor: User | None, person: User, request: HttpRequest | None) -> str | None:
    if request is not None and actor is not None and actor.pk == person.pk:
        return request.session.session_key
    return None


def person_password_change_require(
    *, person: User, actor: User, request: HttpRequest | None = None
) -> bool:
    """Send a person to choose a new password right after their next sign-in.

    Needs `members:write` in the person's tenant and obeys the "above" rule. Returns False when
    it was already required.
    """
    act_on(actor=actor, person=person, scope=scopes.MEMBERS_WRITE)
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=person.pk)
        if person.password_change_required:
            return False
        person.password_change_required = True
        person.save(update_fields=["password_change_required"])
        audit_event_record(
            event=AuditEventType.PASSWORD_CHANGE_REQUIRED,
            actor=actor,
            tenant=person.tenant,
            target=person,
            request=request,
        )
    return True
