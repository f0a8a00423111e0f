"""Spanish date formats: the one format of docs/design.md, "7 dic 2026, 14:26 UTC" (Django's
own Spanish formats say "7 de diciembre de 2026 a las 14:26"). `b` is the month's three
letters in lower case, as Spanish writes them."""

DATE_FORMAT = "j b Y"
DATETIME_FORMAT = "j b Y, H:i T"
# The same without the zone, for a sentence that names UTC itself ("at {{ at }} UTC").
SHORT_DATETIME_FORMAT = "j b Y, H:i"
SHORT_DATE_FORMAT = "j b Y"
TIME_FORMAT = "H:i"
