from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, OuterRef
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.admin_person import PersonPageMixin
from accounts.lockout_counters import email_locked_rows
from accounts.models import User
from accounts.selectors import people_with_breached_password
from accounts.services import lockout_unlock, password_reset_link_send
from teams import scopes
from teams.forms import ChangeRoleForm, InviteForm, PersonForm
from teams.models import Role
from teams.proofs import proof_is_fresh, proof_page_url
from teams.rules import is_above
from teams.selectors import invitation_lapses_at, people_invited_lapsing
from teams.services.people import (
    invitation_resend,
    person_deactivate,
    person_invite_or_notify,
    person_reactivate,
    person_role_change,
    person_update,
)
from teams.services.sessions import user_sessions_end
from teams.sites import TenantScopedAdmin, scoped


def own_details_form(form_class: type, request) -> type:
    """The person form when someone edits themselves: a new sign-in email of one's own needs
    the password proved in the last few minutes (ASVS 5.0 V6.3.7: a stolen session alone must
    not be enough to take the account over by moving its email)."""

    def clean_email(self) -> str:
        email = form_class.clean_email(self)
        if email != self.instance.email and not proof_is_fresh(request=request):
            raise ValidationError(
                format_html(
                    gettext(
                        'Changing your own sign-in email needs your password first: <a href="{}">'
                        "confirm it</a>, then make the change again."
                    ),
                    proof_page_url(request.get_full_path()),
                ),
                code="fresh_proof",
            )
        return email

    return type(form_class.__name__, (form_class,), {"clean_email": clean_email})


class ActiveFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", _("active")), ("no", _("deactivated"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(is_active=self.value() == "yes")
        return queryset


class LockedFilter(admin.SimpleListFilter):
    title = _("lock")
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", _("locked now")), ("no", _("not locked"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(locked=self.value() == "yes")
        return queryset


class InvitationFilter(admin.SimpleListFilter):
    """People still only invited whose invitation lapses soon or has lapsed: where the
    dashboard's "invitations lapsing" to-do leads (`people_invited_lapsing`)."""

    title = _("invitation")
    parameter_name = "invitation"

    def lookups(self, request, model_admin):
        return [("lapsing", _("lapsing within 2 days or lapsed"))]

    def queryset(self, request, queryset):
        if self.value() == "lapsing":
            return people_invited_lapsing(queryset, now=timezone.now())
        return queryset


class BreachedPasswordFilter(admin.SimpleListFilter):
    """People whose current password was found among breached ones: where the dashboard's
    "passwords found breached" to-do leads (`people_with_breached_password`)."""

    title = _("password")
    parameter_name = "breached"

    def lookups(self, request, model_admin):
        return [("yes", _("found in a breach"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return people_with_breached_password(queryset)
        return queryset


@admin.register(User)
class UserAdmin(PersonPageMixin, TenantScopedAdmin):
    """A tenant's people. Passwords are never set or shown here: people set their own through an
    emailed link. A person's page shows their state and offers every action the viewer may take
    on them (accounts/admin_person.py), through the same services as the list's actions.

    Every action is a service: one audit event per person acted on, and the rules of
    `teams.rules` (no one above you, the last Owner stays). An action named `x` is allowed by
    `has_x_permission`, which reads the scopes listed under `x` in `scope_permissions`. The mfa
    app adds its own action ("Reset two-factor authentication") in `mfa/admin.py`.
    """

    scope_permissions = {
        "view": frozenset(
            {
                scopes.MEMBERS_READ,
                scopes.MEMBERS_WRITE,
                scopes.MEMBERS_DEACTIVATE,
                scopes.SESSIONS_REVOKE,
                scopes.MFA_RESET,
                scopes.LOCKOUT_UNLOCK,
            }
        ),
        "add": frozenset({scopes.MEMBERS_WRITE}),
        "change": frozenset({scopes.MEMBERS_WRITE}),
        "deactivate": frozenset({scopes.MEMBERS_DEACTIVATE}),
        "role": frozenset({scopes.MEMBERS_WRITE}),
        "revoke": frozenset({scopes.SESSIONS_REVOKE}),
        "unlock": frozenset({scopes.LOCKOUT_UNLOCK}),
        "send_reset": frozenset({scopes.MEMBERS_WRITE}),
        "invite": frozenset({scopes.MEMBERS_WRITE}),
    }
    form = PersonForm
    add_form = InviteForm
    list_display = [
        "email",
        "full_name",
        "tenant",
        "role",
        "status",
        "last_login",
        "session_count",
    ]
    list_filter = [
        ActiveFilter,
        LockedFilter,
        InvitationFilter,
        BreachedPasswordFilter,
        "role",
        "tenant",
    ]
    list_select_related = ["tenant", "role"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    show_full_result_count = False
    actions = [
        "deactivate",
        "reactivate",
        "change_role",
        "revoke_sessions",
        "unlock",
        "send_reset_link",
        "resend_invitation",
    ]
    change_form_template = "admin/accounts/user/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                session_count=Count("tracked_sessions"),
                locked=Exists(email_locked_rows(OuterRef("email"), timezone.now())),
            )
        )

    @admin.display(description=_("status"), ordering="is_active")
    def status(self, person: User):
        if not person.is_active:
            return format_html('<span class="badge">{}</span>', _("deactivated"))
        if person.locked:
            return format_html('<span class="badge badge-danger">{}</span>', _("locked"))
        lapses_at = invitation_lapses_at(user=person)
        if lapses_at is None:
            return format_html('<span class="badge badge-ok">{}</span>', _("active"))
        when = render_to_string("time.html", {"at": lapses_at})
        if lapses_at > timezone.now():
            return format_html(
                '<span class="badge">{}</span>', format_html(gettext("Invited (lapses {})"), when)
            )
        return format_html(
            '<span class="badge badge-warn">{}</span>',
            format_html(gettext("Invitation lapsed {}"), when),
        )

    @admin.display(description=_("sessions"), ordering="session_count")
    def session_count(self, person: User):
        if not person.session_count:
            return 0
        url = reverse("admin:teams_usersession_changelist", current_app=self.admin_site.name)
        return format_html(
            '<a href="{}?user__id__exact={}">{}</a>', url, person.pk, person.session_count
        )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fields = ["email", "full_name", "tenant", "role"]
            description = _("They choose their own password: nobody sets or sees it here.")
        else:
            # The status is the person page's first section (accounts/admin_person.py).
            fields = ["email", "full_name", "tenant", "role", "last_login", "date_joined"]
            description = _(
                "Their name and sign-in email. Change their role, sessions and access with the "
                "actions below: each asks you to confirm, and each is audited."
            )
        return self.without_tenant(
            request, [(None, {"fields": fields, "description": description})]
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["tenant", "role", "last_login", "date_joined"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and obj.pk == request.user.pk:
            return own_details_form(form, request)
        return form

    # --- permissions

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or not is_above(actor=request.user, role=obj.role))

    def has_delete_permission(self, request, obj=None) -> bool:
        """People are deactivated, never deleted: their audit trail keeps naming them."""
        return False

    def has_deactivate_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "deactivate")

    def has_role_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "role")

    def has_revoke_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "revoke")

    def has_unlock_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "unlock")

    def has_send_reset_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "send_reset")

    def has_invite_permission(self, request) -> bool:
        return self.is_operator(request) or self.holds_scope_for(request, "invite")

    # --- the person's page: "Send the invitation again" beside the history

    def get_urls(self):
        view = self.admin_site.admin_view(self.invitation_resend_view)
        view.model_admin = self  # as Django's own admin views are marked
        return [
            path("<path:object_id>/invitation/", view, name="accounts_user_invitation_resend"),
            *self.person_urls(),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        resend = (
            obj is not None
            and obj.is_active
            and invitation_lapses_at(user=obj) is not None
            and self.has_invite_permission(request)
            and not is_above(actor=request.user, role=obj.role)
        )
        context["invitation_resend_url"] = (
            reverse(
                "admin:accounts_user_invitation_resend",
                args=[obj.pk],
                current_app=self.admin_site.name,
            )
            if resend
            else None
        )
        if obj is not None:
            context.update(self.person_page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def invitation_resend_view(self, request, object_id) -> HttpResponse:
        """The person page's button: POST only, through the same service as the action."""
        person = self.get_object(request, unquote(object_id))
        if not self.has_invite_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.invitations_resend(request, [person])
        return redirect(
            reverse(
                "admin:accounts_user_change", args=[person.pk], current_app=self.admin_site.name
            )
        )

    def invitations_resend(self, request, people) -> None:
        self.run_for_each(
            request,
            people,
            lambda person: invitation_resend(person=person, actor=request.user, request=request),
            lambda count: (
                ngettext(
                    "Sent the invitation again to %(count)d person: they have a new link, and the "
                    "links mailed before it no longer work.",
                    "Sent the invitation again to %(count)d people: each has a new link, and the "
                    "links mailed before it no longer work.",
                    count,
                )
                % {"count": count}
            ),
        )

    # --- saving goes through the services

    def save_model(self, request, obj, form, change) -> None:
        if change:
            person_update(
                person=obj,
                actor=request.user,
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                request=request,
            )
            return
        invited = self.invite(request, obj)
        if invited is not None:
            obj.pk, obj._state.adding = invited.pk, False

    def invite(self, request, person: User) -> User | None:
        """The one place the admin adds a person: None when the address already had an account
        (its owner is told instead; the page must not say so)."""
        return person_invite_or_notify(
            tenant=person.tenant,
            email=person.email,
            full_name=person.full_name,
            role=person.role,
            actor=request.user,
            request=request,
        )

    def save_related(self, request, form, formsets, change) -> None:
        """People have no related rows edited here; the service saved everything."""

    def log_addition(self, request, obj, message) -> None:
        """The audit trail records invitations; an admin log entry would show, under "Recent
        actions", which additions made nobody (an address that already had an account)."""

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        """The same answer whether the address was new or already had an account."""
        self.message_user(
            request,
            _(
                "Invited %(email)s: a link to choose a password is on its way to that address. "
                "It works once, for %(days)s days."
            )
            % {"email": obj.email, "days": settings.INVITATION_TIMEOUT // 86400},
            messages.SUCCESS,
        )
        return redirect(reverse("admin:accounts_user_changelist"))

    # --- actions

    @admin.action(
        description=_("Deactivate the selected people (ends their sessions)"),
        permissions=["deactivate"],
    )
    def deactivate(self, request, queryset) -> None:
        self.run_for_each(
            request,
            queryset.filter(is_active=True),
            lambda person: person_deactivate(person=person, actor=request.user, request=request),
            lambda count: (
                ngettext(
                    "Deactivated %(count)d person and ended their sessions.",
                    "Deactivated %(count)d people and ended their sessions.",
                    count,
                )
                % {"count": count}
            ),
        )

    @admin.action(description=_("Reactivate the selected people"), permissions=["deactivate"])
    def reactivate(self, request, queryset) -> None:
        self.run_for_each(
            request,
            queryset.filter(is_active=False),
            lambda person: person_reactivate(person=person, actor=request.user, request=request),
            lambda count: (
                ngettext(
                    "Reactivated %(count)d person.",
                    "Reactivated %(count)d people.",
                    count,
                )
                % {"count": count}
            ),
        )

    @admin.action(description=_("Change the role of the selected people"), permissions=["role"])
    def change_role(self, request, queryset):
        if queryset.filter(pk=request.user.pk).exists() and not proof_is_fresh(request=request):
            self.message_user(
                request,
                format_html(
                    gettext(
                        'Changing your own role needs your password first: <a href="{}">confirm '
                        "it</a>, then run the action again."
                    ),
                    proof_page_url(request.get_full_path()),
                ),
                messages.ERROR,
            )
            return None
        form = ChangeRoleForm(
            request.POST if "apply" in request.POST else None,
            actor=request.user,
            roles=scoped(Role.objects.all(), request),
        )
        if form.is_valid():
            role = form.cleaned_data["role"]
            self.run_for_each(
                request,
                queryset,
                lambda person: person_role_change(
                    person=person, role=role, actor=request.user, request=request
                ),
                lambda count: (
                    ngettext(
                        "Gave %(count)d person the role %(role)s and ended their sessions.",
                        "Gave %(count)d people the role %(role)s and ended their sessions.",
                        count,
                    )
                    % {"count": count, "role": role.label}
                ),
            )
            return None
        return TemplateResponse(
            request,
            "teams/admin/change_role.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Change role"),
                "opts": self.opts,
                "people": queryset,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description=_("End all sessions of the selected people"), permissions=["revoke"])
    def revoke_sessions(self, request, queryset) -> None:
        self.run_for_each(
            request,
            queryset,
            lambda person: user_sessions_end(
                user=person,
                actor=request.user,
                reason="revoked by an administrator",
                request=request,
            ),
            lambda count: (
                ngettext(
                    "Ended every session of %(count)d person.",
                    "Ended every session of %(count)d people.",
                    count,
                )
                % {"count": count}
            ),
        )

    @admin.action(
        description=_("Unlock the selected people (after failed sign-ins)"), permissions=["unlock"]
    )
    def unlock(self, request, queryset) -> None:
        unlocked = []

        def unlock_one(person: User) -> None:
            if lockout_unlock(user=person, actor=request.user, request=request):
                unlocked.append(person.email)

        self.run_for_each(
            request,
            queryset,
            unlock_one,
            lambda count: (
                gettext("Unlocked: %(people)s.") % {"people": ", ".join(unlocked)}
                if unlocked
                else gettext("None of them was locked.")
            ),
        )

    @admin.action(
        description=_("Mail the selected people a password-reset link"), permissions=["send_reset"]
    )
    def send_reset_link(self, request, queryset) -> None:
        self.run_for_each(
            request,
            queryset.filter(is_active=True),
            lambda person: password_reset_link_send(
                user=person, actor=request.user, request=request
            ),
            lambda count: (
                ngettext(
                    "Mailed a password-reset link to %(count)d person.",
                    "Mailed a password-reset link to %(count)d people.",
                    count,
                )
                % {"count": count}
            ),
        )

    @admin.action(description=_("Send the invitation again"), permissions=["invite"])
    def resend_invitation(self, request, queryset) -> None:
        self.invitations_resend(request, queryset)


# Sign-in history lives in the audit log; axes' own logs are switched off, so their empty admin
# pages would only mislead.
admin.site.unregister(AccessLog)
admin.site.unregister(AccessFailureLog)


class LockCounterAdmin(AxesAccessAttemptAdmin):
    """axes' lock counters (operators only), in the reader's language.

    axes' own admin labels its columns with strings of its own catalogue, which has no Spanish,
    and shows each counter's expiry as "AccessAttemptExpiration object (1)". Every column and
    field here is one of ours: a display with a label in this project's catalogue."""

    list_display = ["attempted_at", "email", "address", "path", "failures", "expires_at"]
    list_filter = ["attempt_time"]
    fieldsets = (
        (None, {"fields": ("email", "path", "failures", "expires_at")}),
        (_("Request"), {"fields": ("browser", "address", "accepts")}),
    )
    readonly_fields = ["email", "path", "failures", "expires_at", "browser", "address", "accepts"]

    @admin.display(description=_("attempted at"), ordering="attempt_time")
    def attempted_at(self, attempt: AccessAttempt):
        return attempt.attempt_time

    @admin.display(description=_("email typed"), ordering="username")
    def email(self, attempt: AccessAttempt) -> str:
        return attempt.username

    @admin.display(description=_("IP address"), ordering="ip_address")
    def address(self, attempt: AccessAttempt) -> str:
        return attempt.ip_address or self.get_empty_value_display()

    @admin.display(description=_("path"), ordering="path_info")
    def path(self, attempt: AccessAttempt) -> str:
        return attempt.path_info

    @admin.display(description=_("failures"), ordering="failures_since_start")
    def failures(self, attempt: AccessAttempt) -> int:
        return attempt.failures_since_start

    @admin.display(description=_("expires at"), empty_value=_("not set"))
    def expires_at(self, attempt: AccessAttempt):
        expiration = getattr(attempt, "expiration", None)
        return expiration.expires_at if expiration else None

    @admin.display(description=_("user agent"))
    def browser(self, attempt: AccessAttempt) -> str:
        return attempt.user_agent

    @admin.display(description=_("accepts"))
    def accepts(self, attempt: AccessAttempt) -> str:
        return attempt.http_accept

    @admin.action(description=_("Clean up expired attempts"))
    def cleanup_expired_attempts(self, request, queryset) -> None:
        count = self.handler.clean_expired_user_attempts(request=request)
        self.message_user(
            request,
            ngettext(
                "Cleaned up %(count)d expired access attempt.",
                "Cleaned up %(count)d expired access attempts.",
                count,
            )
            % {"count": count},
        )


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, LockCounterAdmin)
