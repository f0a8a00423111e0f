import argon2
import pytest

from mfa.models import BackupCode, BackupCodeDevice


def counted(monkeypatch, owner, name: str) -> list:
    """Record each call of `owner.name` (and still make it); the list of calls is returned."""
    calls = []
    real = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


@pytest.mark.real_hashers
def test_codes_are_hashed_with_argon2id_and_a_set_is_quick_to_make(technician, monkeypatch):
    """Quick to make: ten Argon2 runs at the backup-code cost, one per code and no more."""
    device = BackupCodeDevice.objects.create(user=technician, name="Backup codes")
    argon2_runs = counted(monkeypatch, argon2.low_level, "hash_secret")

    codes = device.codes_replace()

    hashes = list(BackupCode.objects.values_list("code_hash", flat=True))
    assert all(code_hash.startswith("argon2$argon2id$") for code_hash in hashes)
    assert all("m=19456,t=2,p=1" in code_hash for code_hash in hashes)
    assert len(set(hashes)) == 10
    assert len(argon2_runs) == 10
    assert device.verify_token(codes[4])
    assert not device.verify_token(codes[4])
