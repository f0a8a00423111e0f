from django import forms
from django.contrib.auth.forms import AuthenticationForm

PASSWORD_MAX_LENGTH = 4096


class SignInForm(AuthenticationForm):
    """Email and password. A wrong password, an unknown email and a deactivated account all get
    the same message, so the form never tells who has an account."""

    error_messages = {
        "invalid_login": "That email and password don't match an active account. Check both and "
        "try again.",
        "inactive": "That email and password don't match an active account. Check both and "
        "try again.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget = forms.EmailInput(
            attrs={"autocomplete": "username", "autofocus": True, "maxlength": 254}
        )
        self.fields["password"].max_length = PASSWORD_MAX_LENGTH
        self.fields["password"].widget.attrs["maxlength"] = PASSWORD_MAX_LENGTH
