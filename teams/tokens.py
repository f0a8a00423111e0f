"""The token in emailed set-password links (invitations and resets)."""

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class SetPasswordTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset token, also bound to whether the person is active and when they were
    last deactivated.

    Django's token dies when the password, the last sign-in or the email changes. Deactivating
    someone changes none of those, so a link mailed before a deactivation would work again the
    moment they are reactivated: an old invitation or reset link revived, possibly one an
    owner sent to a since-corrected address. `deactivated_at` only ever moves forward, so every
    link made before the latest deactivation stays dead after a reactivation.
    """

    key_salt = "teams.tokens.SetPasswordTokenGenerator"

    def _make_hash_value(self, user, timestamp: int) -> str:
        deactivated_at = (
            ""
            if user.deactivated_at is None
            else user.deactivated_at.replace(microsecond=0, tzinfo=None)
        )
        return f"{super()._make_hash_value(user, timestamp)}{user.is_active}{deactivated_at}"


set_password_token_generator = SetPasswordTokenGenerator()
