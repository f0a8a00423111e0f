"""Second factors.

Authenticator apps use django-otp's own `TOTPDevice` (django_otp.plugins.otp_totp). Backup codes
use the device below instead of django-otp's `StaticDevice`, which keeps its codes in clear: here
only a short lookup prefix is stored readable and the rest of each code is hashed with Argon2
(mfa.hashers), so a database dump does not reveal a usable code.
"""

import functools
import secrets

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from mfa.hashers import backup_code_hasher

# No 0/o, 1/l/i: codes are read off paper and typed by hand.
BACKUP_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
BACKUP_CODE_LENGTH = 10
BACKUP_CODE_LOOKUP_LENGTH = 3
BACKUP_CODES_PER_SET = 10


def backup_code_normalize(token: str) -> str:
    """Codes are accepted however they are spaced, hyphenated or cased."""
    return "".join(str(token).split()).replace("-", "").lower()


def backup_code_is_well_formed(token: str) -> bool:
    code = backup_code_normalize(token)
    return len(code) == BACKUP_CODE_LENGTH and all(c in BACKUP_CODE_ALPHABET for c in code)


def backup_code_format(code: str) -> str:
    """How a code is shown: two groups of five, like `abcde-fghjk`."""
    half = BACKUP_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


@functools.cache
def _stand_in_hash(hasher_class: type) -> str:
    return make_password(_random_code(), hasher=hasher_class())


def _random_code() -> str:
    return "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))


class BackupCodeDevice(ThrottlingMixin, TimestampMixin, Device):
    """A person's set of single-use backup codes, for when their authenticator app is gone.

    It is a django-otp device, so `user_has_device`, `django_otp.login` and the OTP middleware
    treat it like any other factor, and it is throttled on its own: a TOTP sign-in never touches
    it, so it never throttles it either.
    """

    class Meta(Device.Meta):
        verbose_name = _("backup code set")

    def get_throttle_factor(self) -> int:
        return settings.MFA_BACKUP_CODE_THROTTLE_FACTOR

    def codes_left(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def codes_replace(self) -> list[str]:
        """Delete every code of this set and make a new one; returns the new codes in clear.

        The clear codes exist only in the returned list: they are shown once and never stored.
        """
        self.codes.all().delete()
        codes: dict[str, str] = {}
        while len(codes) < BACKUP_CODES_PER_SET:
            code = _random_code()
            # The lookup prefix must pick out one code of the set.
            codes.setdefault(code[:BACKUP_CODE_LOOKUP_LENGTH], code)
        hasher = backup_code_hasher()
        BackupCode.objects.bulk_create(
            BackupCode(
                device=self,
                lookup=lookup,
                code_hash=make_password(code[BACKUP_CODE_LOOKUP_LENGTH:], hasher=hasher),
            )
            for lookup, code in codes.items()
        )
        return list(codes.values())

    def verify_token(self, token: str) -> bool:
        """Use up one unused code. Load the device with `for_verify=True` inside a transaction:
        the row lock is what makes two requests with the same code get one success."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        code = backup_code_normalize(token)
        lookup, secret = code[:BACKUP_CODE_LOOKUP_LENGTH], code[BACKUP_CODE_LOOKUP_LENGTH:]
        match = self.codes.filter(lookup=lookup, used_at__isnull=True).first()
        if match is None:
            # Check against a stand-in, so the time taken does not tell whether the prefix exists.
            check_password(secret, _stand_in_hash(type(backup_code_hasher())))
            verified = False
        else:
            verified = check_password(secret, match.code_hash) and bool(
                BackupCode.objects.filter(pk=match.pk, used_at__isnull=True).update(
                    used_at=timezone.now()
                )
            )
        if verified:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        else:
            self.throttle_increment(commit=True)
        return verified


class BackupCode(models.Model):
    """One backup code: a readable lookup prefix and the hash of the rest."""

    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    lookup = models.CharField(max_length=BACKUP_CODE_LOOKUP_LENGTH)
    code_hash = models.CharField(max_length=256)
    used_at = models.DateTimeField(null=True, blank=True)

    # Secrets, hashes and tokens: the admin refuses to filter, sort or link by them (teams.sites).
    # The lookup is the code's first letters.
    secret_fields = frozenset({"lookup", "code_hash"})

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "lookup"], name="backup_code_lookup_unique"),
        ]

    def __str__(self) -> str:
        return f"backup code {self.lookup}… ({'used' if self.used_at else 'unused'})"


class PasskeyDevice(TimestampMixin, Device):
    """One passkey (a WebAuthn credential) of one person.

    It is a django-otp device, so a person with a passkey has a confirmed factor like any other
    and a session that used it is verified through `django_otp.login`. It verifies no typed
    token: the ceremony in mfa/passkeys/ceremonies.py proves it. `credential_id` is unique
    across the site, so an assertion names exactly one person; `user_handle` is the opaque
    WebAuthn user id of that person (the same for all their passkeys, never their database id).
    """

    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    user_handle = models.CharField(max_length=100)
    sign_count = models.PositiveBigIntegerField(default=0)
    aaguid = models.CharField(max_length=36, blank=True)
    transports = models.JSONField(default=list, blank=True)
    backup_eligible = models.BooleanField(default=False)
    backed_up = models.BooleanField(default=False)
    # The challenge of the last assertion this passkey passed, compared under the row lock: the
    # session gives each challenge to one answer, but two requests of one session read it at
    # once, and a synced passkey's counter (always 0) can't tell them apart.
    last_challenge = models.CharField(max_length=64, blank=True)

    class Meta(Device.Meta):
        verbose_name = _("passkey")
