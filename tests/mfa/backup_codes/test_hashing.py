import time

import pytest

from mfa.models import BackupCode, BackupCodeDevice


@pytest.mark.real_hashers
def test_codes_are_hashed_with_argon2id_and_a_set_is_quick_to_make(technician):
    device = BackupCodeDevice.objects.create(user=technician, name="Backup codes")

    started = time.perf_counter()
    codes = device.codes_replace()
    elapsed = time.perf_counter() - started

    hashes = list(BackupCode.objects.values_list("code_hash", flat=True))
    assert all(code_hash.startswith("argon2$argon2id$") for code_hash in hashes)
    assert all("m=19456,t=2,p=1" in code_hash for code_hash in hashes)
    assert len(set(hashes)) == 10
    assert elapsed < 2.5
    assert device.verify_token(codes[4])
    assert not device.verify_token(codes[4])
