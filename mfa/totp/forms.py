from django.utils.translation import gettext_lazy as _

from mfa.forms import CodeForm, otp_token_field, sign_out_others_field


class TOTPConfirmForm(CodeForm):
    error_messages = {
        **CodeForm.error_messages,
        "wrong": _(
            "That code didn't match. Check the app shows Portcullis with your email, and "
            "type the code it shows now. If it still fails, check your phone's clock."
        ),
    }

    otp_token = otp_token_field(
        label=_("Code from the app"),
        help_text=_("The 6-digit code your app shows for this account."),
    )
    sign_out_others = sign_out_others_field()
