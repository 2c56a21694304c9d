# "3. november 2025, 14:30"
DATETIME_FORMAT = "j. F Y, H:i"
