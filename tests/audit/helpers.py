FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

# Where sign-ins come from, as request headers for `tests.signing_in`: the person's usual
# browser at the office, and a stranger guessing passwords.
FROM_THE_OFFICE = {"REMOTE_ADDR": "192.0.2.10", "HTTP_USER_AGENT": FIREFOX_LINUX}
FROM_A_STRANGER = {"REMOTE_ADDR": "198.51.100.5", "HTTP_USER_AGENT": CHROME_WINDOWS}

# Transactional tests empty every table with TRUNCATE, which the audit log refuses on
# PostgreSQL: in the test database alone the no-truncate trigger is off, on the table and on
# each of its monthly partitions (which have their own).
NO_TRUNCATE_TRIGGERS_OFF = (
    "DO $$ DECLARE part regclass; BEGIN FOR part IN "
    "SELECT 'audit_auditevent'::regclass UNION ALL SELECT inhrelid::regclass "
    "FROM pg_inherits WHERE inhparent = 'audit_auditevent'::regclass LOOP "
    "EXECUTE format('ALTER TABLE %s DISABLE TRIGGER audit_event_no_truncate', part); "
    "END LOOP; END $$"
)
