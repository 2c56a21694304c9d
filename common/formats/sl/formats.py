# "3. november 2025" (Django writes "03. november 2025").
DATE_FORMAT = "j. F Y"
