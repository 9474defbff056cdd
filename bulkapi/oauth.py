"""OAuth 2.0 token endpoint (django-oauth-toolkit), accepting JSON bodies as Eloqua clients send.

Password grant user names are `Site\\User` (resolved by bulkapi.auth.SiteUserBackend); client
credentials come by HTTP Basic or in the body; refresh tokens rotate on use.
"""

from __future__ import annotations

import json

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.views import TokenView


class JSONOrFormOAuthLibCore(OAuthLibCore):
    def extract_body(self, request):
        if (request.content_type or "").lower() == "application/json":
            try:
                body = json.loads(request.body.decode("utf-8") or "{}")
            except (ValueError, UnicodeDecodeError):
                return []
            if not isinstance(body, dict):
                return []
            return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in body.items() if v is not None]
        return super().extract_body(request)


@method_decorator(csrf_exempt, name="dispatch")
class TokenApi(TokenView):
    """POST /auth/oauth2/token."""
