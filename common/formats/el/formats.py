# "3 Νοεμβρίου 2025, 14:30": the month in the genitive (E), 24-hour clock.
DATE_FORMAT = "j E Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j E Y, H:i"
