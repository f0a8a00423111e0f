"""The tokens in emailed set-password links: short-lived reset links, longer-lived invitations.

Both are Django's password-reset tokens, a hash over the person's password hash, last sign-in
and email, so a link dies once a password is set (single use) or the person signs in. Ours
also cover whether the person is active and when they were last deactivated (below). The two
kinds differ in lifetime: a reset link lives PASSWORD_RESET_TIMEOUT (an hour), an invitation
INVITATION_TIMEOUT (three days), since a person invited in the evening opens it next morning.
Each kind has its own salt, so a reset token is never read as an invitation or back.
"""

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int

from accounts.models import User


class SetPasswordTokenGenerator(PasswordResetTokenGenerator):
    """Reset tokens: Django's, also bound to whether the person is active and when they were
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


class InvitationTokenGenerator(SetPasswordTokenGenerator):
    """Invitation tokens: valid for INVITATION_TIMEOUT, and only while no password is set.

    They are also bound to when the latest invitation was mailed (`invitation_sent_at`), so
    sending an invitation again voids every link mailed before it: the person's mailbox holds
    one working link, the newest. People invited before that field existed have none, which
    hashes as the empty string their links were made with.
    """

    key_salt = "teams.tokens.InvitationTokenGenerator"

    def _make_hash_value(self, user, timestamp: int) -> str:
        sent_at = "" if user.invitation_sent_at is None else user.invitation_sent_at.isoformat()
        return f"{super()._make_hash_value(user, timestamp)}{sent_at}"

    def check_token(self, user: User | None, token: str | None) -> bool:
        if not (user and token) or user.has_usable_password():
            return False
        try:
            issued_at = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        if self._num_seconds(self._now()) - issued_at > settings.INVITATION_TIMEOUT:
            return False
        return any(
            constant_time_compare(self._make_token_with_timestamp(user, issued_at, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        )


set_password_token_generator = SetPasswordTokenGenerator()
invitation_token_generator = InvitationTokenGenerator()


class SetPasswordTokens:
    """What the set-password page checks a link's token with: a reset token or an invitation."""

    def make_token(self, user: User) -> str:
        return set_password_token_generator.make_token(user)

    def check_token(self, user: User | None, token: str | None) -> bool:
        return set_password_token_generator.check_token(
            user, token
        ) or invitation_token_generator.check_token(user, token)


set_password_tokens = SetPasswordTokens()
