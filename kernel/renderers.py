"""Bulk clients send `Accept: */*`, `text/csv` or nothing at all; we always answer JSON."""

import json

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer


class JSONRenderer(DRFJSONRenderer):
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # An unpaired surrogate in an echoed value (an error naming what was refused) cannot be
            # UTF-8: escape it (`\ud800`) rather than fail the answer.
            return json.dumps(data, cls=self.encoder_class, ensure_ascii=True, separators=(",", ":")).encode()


class JSONOnlyNegotiation(BaseContentNegotiation):
    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        for parser in parsers:
            if content_type.split(";")[0].strip().lower() == parser.media_type:
                return parser
        return parsers[0] if not content_type else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
