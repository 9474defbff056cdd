"""POST /auth/oauth2/token, as Eloqua clients call it: the view and its schema over kernel.oauth."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiRequest,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from doors.eloqua.schema.shapes import (
    ErrorSerializer,
    TokenErrorSerializer,
    TokenRefusalSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    error_response,
)
from kernel.exceptions import error_body
from kernel.middleware import json_response
from kernel.oauth import token_answer, token_request_failure

_PASSWORD = {"grant_type": "password", "username": "Demo\\api", "password": "s3cret", "scope": "full"}
_TOKEN = {
    "access_token": "tD3yKcqYhHuhMa1vG3dJPZ7bH1RWqv",
    "token_type": "Bearer",
    "expires_in": 28800,
    "refresh_token": "gP2cgGq2xCS3E2lnHvQ0NoJ7OCc8Ry",
    "scope": "full",
}


def _token_request(serializer) -> OpenApiRequest:
    return OpenApiRequest(
        serializer,
        examples=[
            OpenApiExample("Password grant", value=_PASSWORD),
            OpenApiExample("Refresh", value={"grant_type": "refresh_token", "refresh_token": _TOKEN["refresh_token"]}),
            OpenApiExample(
                "Client credentials in the body",
                value={**_PASSWORD, "client_id": "my-client", "client_secret": "client-secret"},
            ),
        ],
    )


class TokenApi(APIView):
    """POST /auth/oauth2/token: django-oauth-toolkit's TokenView, answering exactly as it does.

    A DRF view only so that the schema describes it; the request goes to TokenView untouched."""

    authentication_classes = []
    permission_classes = [AllowAny]
    openapi_errors = ()  # RFC 6749 error bodies, listed below

    @extend_schema(
        operation_id="oauth2_token",
        summary="Get an OAuth 2.0 access token",
        description=(
            "Grants: `password` (user name `Site\\User`), `refresh_token` (refresh tokens rotate: the answer "
            "carries a new one and the old one is spent) and `client_credentials`. The client authenticates by "
            "HTTP Basic (`client_id:client_secret`) or with `client_id`/`client_secret` in the body; the body may "
            "be a form or JSON. Send the token as `Authorization: Bearer <access_token>`. A client_credentials "
            "token names no user, so the Bulk and REST APIs refuse it (401): use the password grant for them."
        ),
        request={
            "application/x-www-form-urlencoded": _token_request(TokenRequestSerializer),
            "application/json": _token_request(TokenRequestSerializer),
        },
        responses={
            200: OpenApiResponse(TokenSerializer, examples=[OpenApiExample("Issued", value=_TOKEN)]),
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="TokenBadRequest",
                    serializers=[TokenErrorSerializer, TokenRefusalSerializer, ErrorSerializer],
                    resource_type_field_name=None,
                ),
                description=(
                    "RFC 6749's body: a bad grant, an unknown grant type, a bad user name or password, ... "
                    "(A request too malformed to reach OAuth, e.g. too many form fields, gets our error body.)"
                ),
                examples=[OpenApiExample("Bad password", value={"error": "invalid_grant",
                                                                 "error_description": "Invalid credentials given."})],
            ),
            401: OpenApiResponse(
                TokenErrorSerializer,
                description="The client (`client_id`/`client_secret`) could not be authenticated.",
                examples=[OpenApiExample("Unknown client", value={"error": "invalid_client"})],
            ),
            413: error_response("413", "The body is larger than the limit."),
            429: OpenApiResponse(
                TokenErrorSerializer,
                description=(
                    "Too many failed attempts for this user (or client) or from this address: wait `Retry-After` "
                    "seconds. No password or client secret was checked."
                ),
                examples=[OpenApiExample("Throttled", value={
                    "error": "too_many_attempts",
                    "error_description": "Too many failed authentication attempts. Try again in 42 seconds.",
                })],
            ),
        },
    )  # fmt: skip
    def post(self, request, *args, **kwargs):
        failure = token_request_failure(request._request)
        if failure is not None:
            body = {"error": "invalid_request", "error_description": failure.constraint}
            body.update(error_body("validation_error", "There was a validation error.", [failure.as_dict()]))
            return json_response(body, 400)
        return token_answer(request._request, *args, **kwargs)
