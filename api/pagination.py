"""Cursor pagination: {"next", "previous", "results"}, 50 a page, up to 500."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "id"

    def decode_cursor(self, request):  # type: ignore[no-untyped-def]
        """A cursor this API did not give (typed, cut short, from another
        list) is the client's mistake, named: a 400 on "cursor", not DRF's
        404, which reads as "the list is gone"."""
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            message = _("Not a cursor from this list: start again from its first page.")
            raise ValidationError({self.cursor_query_param: message}) from exc
