"""Date formats (Django's FORMAT_MODULE_PATH) for the EU languages Django
lacks (Maltese) or writes in a way an employee in Europe would not: a
12-hour clock (English, Greek), no date-and-time format at all (Bulgarian,
Estonian, Irish), a leading zero on the day (Italian, Slovenian). Only the
formats named here change; the rest come from Django's own locale modules.
Every date-and-time is on a 24-hour clock with the month written out.
"""
