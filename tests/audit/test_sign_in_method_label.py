import pytest

from audit.selectors import sign_in_method_label


@pytest.mark.parametrize(
    ("details", "label"),
    [
        ({"second_factor": "totp"}, "password + app"),
        ({"second_factor": "passkey"}, "passkey"),
        ({"second_factor": "backup_code"}, "backup code"),
        ({"second_factor": "remembered_browser"}, "remembered browser"),
        ({"second_factor": "none"}, "password"),
        (
            {"second_factor": "identity_provider", "via": {"provider": "Microsoft"}},
            "via Microsoft",
        ),
        ({}, ""),
        (None, ""),
        ({"second_factor": "something new", "via": "not a dict"}, ""),
    ],
)
def test_a_sign_in_events_details_name_its_method_in_words(details, label):
    assert sign_in_method_label(details) == label
