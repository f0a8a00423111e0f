from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.events import AuditEventType
from teams.models import Tenant, is_operator

REFUSED = "refused"
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ManyChoicesSelect(forms.Select):
    """A select of flat choices whose options are written here: Django renders each option
    through a template of its own, which took about 8 ms of every trail page for the hundred
    and more event types. The same HTML as Django's, without the line breaks between options."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (option["value"], flatatt(option["attrs"]), option["label"])
                for _, group, _ in widget["optgroups"]
                for option in group
            ),
        )
        return format_html(
            '<select name="{}"{}>{}</select>', widget["name"], flatatt(widget["attrs"]), options
        )


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        if obj.full_name:
            return f"{obj.full_name} <{obj.email}>"
        return obj.email


class TrailFilterForm(forms.Form):
    """The trail's filters, read from the query string so a filtered view can be shared."""

    error_messages = {
        "dates_reversed": _("The start date is after the end date."),
    }

    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.none(),
        required=False,
        to_field_name="slug",
        empty_label=_("All tenants"),
        error_messages={"invalid_choice": _("Choose a tenant from the list.")},
    )
    event = forms.TypedChoiceField(
        label=_("Event"),
        choices=[("", _("All events")), *AuditEventType.choices],
        widget=ManyChoicesSelect,
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={"invalid_choice": _("Choose an event type from the list.")},
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("", _("Anything")), (REFUSED, _("Refused access only"))],
        required=False,
        help_text=_(
            "Refused pages, other tenants' objects, admin actions, CSRF failures, rate limits."
        ),
        error_messages={"invalid_choice": _("Choose an outcome from the list.")},
    )
    person = PersonChoiceField(
        label=_("Person"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Anyone"),
        help_text=_("Events they did or that were done to them."),
        error_messages={"invalid_choice": _("Choose a person from the list.")},
    )
    ip = forms.GenericIPAddressField(
        label=_("IP address"),
        required=False,
        error_messages={"invalid": _("Enter an IP address, like 203.0.113.7 or 2001:db8::1.")},
    )
    since = forms.DateField(
        label=_("From (UTC)"),
        required=False,
        widget=DATE_INPUT,
        error_messages={"invalid": _("Enter the start date as YYYY-MM-DD.")},
    )
    until = forms.DateField(
        label=_("To (UTC)"),
        required=False,
        widget=DATE_INPUT,
        error_messages={"invalid": _("Enter the end date as YYYY-MM-DD.")},
    )

    def __init__(self, *args, viewer: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.viewer = viewer
        if is_operator(viewer):
            self.fields["tenant"].queryset = Tenant.objects.order_by("name")
        else:
            del self.fields["tenant"]
        people = User.objects.visible_to(viewer)
        tenant = self._chosen_tenant()
        if tenant is not None:
            people = people.for_tenant(tenant)
        self.fields["person"].queryset = people.order_by("email")

    def _chosen_tenant(self) -> Tenant | None:
        if "tenant" not in self.fields or not self.is_bound:
            return None
        slug = self.data.get("tenant")
        return Tenant.objects.filter(slug=slug).first() if isinstance(slug, str) and slug else None

    def clean(self) -> dict:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise ValidationError(self.error_messages["dates_reversed"], code="dates_reversed")
        return cleaned

    def filters(self) -> dict:
        """The cleaned filters as keyword arguments for `audit_trail`."""
        filters = {
            key: value for key, value in self.cleaned_data.items() if value not in (None, "")
        }
        filters["refused"] = filters.pop("outcome", "") == REFUSED
        return filters
