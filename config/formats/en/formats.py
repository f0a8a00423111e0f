"""English date formats: the one format of docs/design.md, "7 Dec 2026, 14:26 UTC", also in
the admin and the mail (Django's own English formats say "Dec. 7, 2026, 2:26 p.m.")."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i T"
# The same without the zone, for a sentence that names UTC itself ("at {{ at }} UTC").
SHORT_DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
