# English as written in Europe (Ireland, Malta): "3 November 2025, 14:30".
DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y, H:i"
