from django.contrib.auth.hashers import Argon2PasswordHasher, BasePasswordHasher, get_hasher


class BackupCodeHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's minimum cost (19 MiB, 2 passes, 1 lane), for backup codes.

    A code's hashed part is 7 random characters (about 35 bits), not something a person chose,
    so it needs less work per guess than a password; at the password cost, making a set of ten
    takes seconds. The hashes carry their own parameters and say `argon2`, so Django's Argon2
    hasher checks them like any other.
    """

    time_cost = 2
    memory_cost = 19 * 1024
    parallelism = 1


def backup_code_hasher() -> BasePasswordHasher:
    """The lighter Argon2 when the site hashes passwords with Argon2, else the site's own hasher
    (the fast test hasher, for one)."""
    default = get_hasher("default")
    return BackupCodeHasher() if isinstance(default, Argon2PasswordHasher) else default
