from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User, normalize_email
from teams import scopes
from teams.models import AccessListEntry, AccessListException, Role, Tenant
from teams.rules import refuse_granting_more
from teams.selectors import least_privileged_role, user_scopes
from teams.services.access_list import access_list_change_excludes, excludes_actor_message
from teams.services.tenants import tenant_new_check


def grantable_roles(*, actor: User, roles):
    """Of `roles`, those the actor may hand out: holding no scope the actor lacks."""
    held = user_scopes(user=actor)
    return roles.filter(pk__in=[role.pk for role in roles if role.scope_set <= held])


class RoleChoiceField(forms.ModelChoiceField):
    """Roles by name; operators, who see every tenant's, also by tenant."""

    show_tenant = False

    def label_from_instance(self, role: Role) -> str:
        return f"{role.tenant.name} · {role.label}" if self.show_tenant else role.label


class RoleForm(forms.ModelForm):
    """A role: its name, the scopes it grants (from the catalogue) and its session limits.

    `relaxing_proof_url` is set (by the admin) when the person's proof of identity is too old
    for a high-impact change: relaxing the MFA requirement is then refused with a link to the
    proof page (teams/proofs.py, ASVS 5.0 V7.5.3)."""

    actor: User
    relaxing_proof_url: str | None = None

    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=scopes.scope_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("You can grant only scopes your own role holds."),
    )

    confirm_mfa_relaxed = forms.BooleanField(
        required=False,
        widget=forms.HiddenInput,
        label=_("I understand that people with this role can then sign in with a password alone"),
    )

    error_messages = {
        "idle_over_lifetime": "The idle timeout can't be longer than the session lifetime.",
        "duplicate_name": "This tenant already has a role called %(name)s.",
        "mfa_relaxed": _(
            'Without "Require MFA", a stolen or guessed password is enough to sign in as '
            "anyone holding this role. Tick the box below to save it anyway; the change is "
            "recorded in the audit trail."
        ),
    }

    class Meta:
        model = Role
        fields = [
            "name",
            "scopes",
            "require_mfa",
            "require_phishing_resistant",
            "idle_timeout_minutes",
            "session_lifetime_minutes",
            "max_sessions",
        ]

    def clean_scopes(self) -> list[str]:
        chosen = sorted(set(self.cleaned_data["scopes"]))
        refuse_granting_more(actor=self.actor, granted=chosen)
        return chosen

    def clean(self) -> dict:
        cleaned = super().clean()
        tenant_id = cleaned["tenant"].pk if cleaned.get("tenant") else self.instance.tenant_id
        name = cleaned.get("name")
        if (
            name
            and tenant_id
            and Role.objects.filter(tenant_id=tenant_id, name__iexact=name)
            .exclude(pk=self.instance.pk)
            .exists()
        ):
            self.add_error(
                "name",
                ValidationError(
                    self.error_messages["duplicate_name"],
                    code="duplicate_name",
                    params={"name": name},
                ),
            )
        relaxing = cleaned.get("require_mfa") is False and (
            self.instance.pk is None or self.instance.require_mfa
        )
        if relaxing and self.relaxing_proof_url:
            self.add_error(
                "require_mfa",
                ValidationError(
                    format_html(
                        gettext(
                            'Turning "Require MFA" off needs you to confirm it\'s you first: '
                            '<a href="{}">confirm it</a>, then save again.'
                        ),
                        self.relaxing_proof_url,
                    ),
                    code="fresh_proof",
                ),
            )
        elif relaxing and not cleaned.get("confirm_mfa_relaxed"):
            self.fields["confirm_mfa_relaxed"].widget = forms.CheckboxInput()
            self.add_error(
                "require_mfa",
                ValidationError(self.error_messages["mfa_relaxed"], code="mfa_relaxed"),
            )
        idle = cleaned.get("idle_timeout_minutes")
        lifetime = cleaned.get("session_lifetime_minutes")
        if idle and lifetime and idle > lifetime:
            raise ValidationError(
                self.error_messages["idle_over_lifetime"], code="idle_over_lifetime"
            )
        return cleaned


class InviteForm(forms.ModelForm):
    """Adding a person: who they are and their role. Never a password: they set their own
    through the emailed link.

    An address that already has an account is not an error here: saying so would tell whoever
    adds people which addresses have accounts in other tenants. The service invites nobody then
    and tells that address instead (`person_invite_or_notify`)."""

    actor: User

    class Meta:
        model = User
        fields = ["email", "full_name", "tenant", "role"]
        field_classes = {"role": RoleChoiceField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        role.required = True
        role.queryset = grantable_roles(actor=self.actor, roles=role.queryset)
        role.help_text = _("You can give only roles holding no scope your own role lacks.")
        if "tenant" in self.fields:
            # Operators pick among every tenant's roles: the "---------" choice stays, so they
            # choose one rather than get whichever comes first.
            self.fields["tenant"].required = True
            role.queryset = role.queryset.select_related("tenant")
            role.show_tenant = True
        else:
            # A person always has a role, and whoever leaves it alone gives the least one.
            role.empty_label = None
            if not self.initial.get("role"):
                least = least_privileged_role(roles=role.queryset)
                self.initial["role"] = least.pk if least else None

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])

    def validate_unique(self) -> None:
        exclude = self._get_validation_exclusions() | {"email"}
        try:
            self.instance.validate_unique(exclude=exclude)
        except ValidationError as error:
            self._update_errors(error)


class PersonForm(forms.ModelForm):
    """A person's details. Their role and whether they are active change through the actions,
    which end their sessions and check the rules."""

    actor: User

    class Meta:
        model = User
        fields = ["email", "full_name"]

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class ChangeRoleForm(forms.Form):
    """The admin's "change role" step: which role the selected people get."""

    role = RoleChoiceField(
        label=_("Role"),
        queryset=Role.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": _("Choose one of the roles listed.")},
    )

    def __init__(self, *args, actor: User, roles, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        role.queryset = grantable_roles(actor=actor, roles=roles).select_related("tenant")
        role.show_tenant = actor.is_superuser


class RevokeSessionForm(forms.Form):
    """Which of one's sessions to end: a session's id, or all but the current one."""

    OTHERS = "others"

    revoke = forms.RegexField(regex=r"^(others|[0-9]{1,18})$")


class ForgetBrowserForm(forms.Form):
    """Which of one's remembered browsers to forget: a browser's id, or all of them."""

    ALL = "all"

    forget = forms.RegexField(regex=r"^(all|[0-9]{1,18})$")


class AccessListGuardForm(forms.ModelForm):
    """A change to the IP access list, refused until confirmed when it would shut out the saving
    person's own current address.

    The service enforces that rule for every caller (teams/services/access_list.py); the form
    asks the same question first, so the admin can show its box beside the fields instead of
    failing at save. The confirmation ticked here is passed on to the service.

    The "I understand" box is hidden until then. The admin sets `actor` and `client_address`;
    `try_change` makes the change on the database for the guard to look at (it is rolled back).
    """

    actor: User
    client_address: str | None = None

    confirm_exclusion = forms.BooleanField(
        required=False,
        widget=forms.HiddenInput,
        label=_("I understand that I can't sign in from my current address after this"),
    )

    def guarded(self) -> bool:
        return True

    def try_change(self) -> None:
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or self.cleaned_data.get("confirm_exclusion") or not self.guarded():
            return
        if access_list_change_excludes(
            actor=self.actor, ip=self.client_address, change=self.try_change
        ):
            self.fields["confirm_exclusion"].widget = forms.CheckboxInput()
            self.add_error(
                "confirm_exclusion",
                ValidationError(
                    excludes_actor_message(actor=self.actor),
                    code="excludes_you",
                    params={"ip": self.client_address or "unknown"},
                ),
            )

    def _copy(self):
        """The instance as it would be saved, as a separate object, so trying it leaves the
        form's own instance untouched."""
        model = type(self.instance)
        return model(
            **{
                field.attname: getattr(self.instance, field.attname)
                for field in model._meta.concrete_fields
            }
        )


class AccessListEntryForm(AccessListGuardForm):
    class Meta:
        model = AccessListEntry
        fields = ["tenant", "network", "label", "roles"]

    def try_change(self) -> None:
        entry = self._copy()
        entry.save()
        entry.roles.set(self.cleaned_data.get("roles") or [])


class AccessListExceptionForm(AccessListGuardForm):
    class Meta:
        model = AccessListException
        fields = ["tenant", "user", "expires_at", "reason"]

    def guarded(self) -> bool:
        return self.instance.pk is not None

    def try_change(self) -> None:
        self._copy().save()


class TenantForm(AccessListGuardForm):
    """The tenant's policy; switching the IP access list on is guarded like a list change."""

    class Meta:
        model = Tenant
        fields = ["access_list_enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "remember_browser_days" in self.fields:
            self.fields["remember_browser_days"].required = False

    def clean_remember_browser_days(self) -> int:
        """Left empty (or sent by a form that predates it), the setting stays as it was."""
        days = self.cleaned_data.get("remember_browser_days")
        return self.instance.remember_browser_days if days is None else days

    def guarded(self) -> bool:
        return "access_list_enabled" in self.changed_data and bool(
            self.cleaned_data.get("access_list_enabled")
        )

    def try_change(self) -> None:
        Tenant.objects.filter(pk=self.instance.pk).update(access_list_enabled=True)


class TenantCreateForm(forms.ModelForm):
    """An operator making a tenant: its name and its first Owner, as `create_tenant` takes
    them. The service makes it (`tenant_onboard`); the form asks the service's own checks first,
    so a taken slug or address shows on the form with what was typed."""

    actor: User

    owner_email = forms.EmailField(
        label=_("Owner's email"),
        help_text=_("The tenant's first Owner: they are mailed a link to choose their password."),
    )
    owner_full_name = forms.CharField(label=_("Owner's name"), max_length=150, required=False)
    slug = forms.CharField(
        label=_("Slug"),
        max_length=Tenant._meta.get_field("slug").max_length,
        required=False,
        help_text=_("The short id commands take. Empty: made from the name."),
    )

    class Meta:
        model = Tenant
        fields = ["name"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        name, slug, owner_email = tenant_new_check(
            name=cleaned["name"], owner_email=cleaned["owner_email"], slug=cleaned.get("slug", "")
        )
        cleaned.update(name=name, slug=slug, owner_email=owner_email)
        return cleaned


class SecurityPolicyForm(TenantForm):
    """The Security page: the tenant's whole policy in one form, grouped as owners think of it
    (`GROUPS`). Saved by `tenant_security_update`; switching the IP access list on is guarded
    like any list change (the saver's own address, `AccessListGuardForm`)."""

    GROUPS = (
        ("sign_in", _("Sign-in methods"), ("passwordless_sign_in",)),
        ("two_factor", _("Two-factor and passkeys"), ("require_mfa", "remember_browser_days")),
        (
            "sessions",
            _("Sessions"),
            (
                "idle_timeout_minutes",
                "session_lifetime_minutes",
                "max_sessions",
                "deactivate_after_days",
            ),
        ),
        ("access_list", _("IP access list"), ("access_list_enabled", "confirm_exclusion")),
        (
            "passwords",
            _("Passwords"),
            (
                "password_max_age_days",
                "password_history_count",
                "breached_password_check_at_sign_in",
            ),
        ),
        ("audit", _("Audit"), ("audit_retention_months", "alert_owners_on_unusual_sign_in")),
    )
    LABELS = {
        "passwordless_sign_in": _("Allow sign-in with a passkey alone"),
        "require_mfa": _("Require two-factor authentication for everyone"),
        "remember_browser_days": _("Remember a browser for (days)"),
        "idle_timeout_minutes": _("Idle timeout (minutes)"),
        "session_lifetime_minutes": _("Session lifetime (minutes)"),
        "max_sessions": _("Sessions per person"),
        "deactivate_after_days": _("Deactivate after days without sign-in"),
        "access_list_enabled": _("Enforce the IP access list"),
        "password_max_age_days": _("Password maximum age (days)"),
        "password_history_count": _("Previous passwords refused"),
        "breached_password_check_at_sign_in": _("Check passwords against breaches at sign-in"),
        "audit_retention_months": _("Keep audit events for (months)"),
        "alert_owners_on_unusual_sign_in": _("Send Owners a copy of unusual sign-in alerts"),
    }

    class Meta:
        model = Tenant
        fields = [
            "passwordless_sign_in",
            "require_mfa",
            "remember_browser_days",
            "idle_timeout_minutes",
            "session_lifetime_minutes",
            "max_sessions",
            "deactivate_after_days",
            "access_list_enabled",
            "password_max_age_days",
            "password_history_count",
            "breached_password_check_at_sign_in",
            "audit_retention_months",
            "alert_owners_on_unusual_sign_in",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, label in self.LABELS.items():
            self.fields[name].label = label

    def groups(self) -> list[tuple[str, str, list]]:
        """Each group's key, title and bound fields, in order."""
        return [(key, title, [self[name] for name in names]) for key, title, names in self.GROUPS]
