# Django has no date-and-time format for Bulgarian: "3 ноември 2025, 14:30".
DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
