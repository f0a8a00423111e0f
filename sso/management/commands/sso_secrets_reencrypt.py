from django.core.management.base import BaseCommand, CommandError

from sso.encryption import SecretUnreadable
from sso.services import provider_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Encrypt every stored single sign-on client secret again under the first key of "
        "FIELD_ENCRYPTION_KEY. Rotate keys by putting a new key first (the old one after it), "
        "running this, then dropping the old key. Nothing changes if any secret is unreadable."
    )

    def handle(self, *args, **options) -> None:
        try:
            count = provider_secrets_reencrypt()
        except SecretUnreadable as error:
            raise CommandError(
                "A stored client secret can't be read with any key in FIELD_ENCRYPTION_KEY; "
                "nothing was changed. Put back the key it was encrypted with.",
                returncode=1,
            ) from error
        self.stdout.write(f"Re-encrypted {count} client secret{'s' if count != 1 else ''}.")
