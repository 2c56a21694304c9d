# "3 novembre 2025, 14:30" (Django writes "03 novembre 2025").
DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
