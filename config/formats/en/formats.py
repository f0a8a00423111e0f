"""English date formats: the one format of docs/design.md, also in the admin (Django's own
English formats say "Nov. 30, 2026, 2:04 a.m.")."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
TIME_FORMAT = "H:i"
