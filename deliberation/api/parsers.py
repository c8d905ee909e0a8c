"""JSON bodies whose text PostgreSQL can store (see :mod:`deliberation.storable`)."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from deliberation.storable import unstorable


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        problem = unstorable(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}.")
        return data
