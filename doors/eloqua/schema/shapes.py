"""Docs-only serializers of the wire shapes not yet defined once (`kernel.shapes`).

A field, the sync, its progress, its logs and rejects are shapes (`doors/eloqua/shapes.py`): what renders them
is what the schema shows. Nothing here validates or renders a request: the views keep their own
tolerant parsing and their `render_*` functions. These serializers only tell drf-spectacular what
goes over the wire, and the
schemathesis run in the suite (tests/doors/openapi) holds them to what the server really answers:
unset properties are omitted (never null), timestamps have seven fractional digits, `uri`s are
relative to the Bulk base.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers

from kernel.paging import ELOQUA_PARAMS
from pipeline.models import ImportRule, UpdateRule

# --- scalars ---------------------------------------------------------------------------------

WIRE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$"
WIRE_TIME_EXAMPLE = "2018-02-15T15:25:32.4730364Z"
DURATION_PATTERN = r"^P(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$"
ELOQUA_STATUS_CODE_PATTERN = r"^ELQ-\d{5}$"  # Eloqua's codes: the only ones its door answers
DEFINITION_URI_PATTERN = r"^/(opportunities/contacts|opportunities|contacts|accounts|batches)/imports/\d+$"
SYNC_URI_PATTERN = r"^/syncs/\d+$"


@extend_schema_field(
    {"type": "string", "format": "date-time", "pattern": WIRE_TIME_PATTERN, "example": WIRE_TIME_EXAMPLE}
)
class WireTimeField(serializers.CharField):
    """Eloqua's timestamp: UTC, seven fractional digits, `Z`."""


def wire_time_field(**kwargs) -> WireTimeField:
    return WireTimeField(**kwargs)


def uri_field(pattern: str, **kwargs) -> serializers.RegexField:
    return serializers.RegexField(pattern, **kwargs)


# --- the error body --------------------------------------------------------------------------


class FailureSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The request property (dotted for nested ones), column or `body`.")
    row = serializers.IntegerField(
        required=False, min_value=1, help_text="Row of an upload or batch file (1 = first data row), when one is."
    )
    value = serializers.CharField(required=False, help_text="The refused value, as a string, when there is one.")
    constraint = serializers.CharField(help_text="The rule the value broke, for people.")

    class Meta:
        ref_name = "Failure"


class QuotaUseSerializer(serializers.Serializer):
    name = serializers.ChoiceField(
        choices=["stagedRows", "stagedBytes", "batchFileBytes", "rejects"], help_text="Which of the site's quotas."
    )
    limit = serializers.IntegerField(min_value=1, help_text="The site's limit.")
    used = serializers.IntegerField(min_value=0, help_text="What the site stores now.")
    requested = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="What this request would add (at least: a body is not read past the room left); omitted on a 507.",
    )

    class Meta:
        ref_name = "QuotaUse"


class ErrorSerializer(serializers.Serializer):
    """Every error on every route (Eloqua's `failures` plus a stable machine `code`)."""

    code = serializers.CharField(help_text="Stable machine code: `validation_error`, `not_found`, `conflict`, ...")
    message = serializers.CharField(help_text="What went wrong, for people.")
    failures = FailureSerializer(many=True, required=False, help_text="One entry per broken rule; omitted when none.")
    quota = QuotaUseSerializer(required=False, help_text="`quota_exceeded` only: the quota, its limit and use.")

    class Meta:
        ref_name = "Error"


def _error_example(name: str, code: str, message: str, failures: list | None = None, **extra) -> OpenApiExample:
    body = {"code": code, "message": message}
    if failures:
        body["failures"] = failures
    body.update(extra)
    return OpenApiExample(name, value=body, response_only=True)


ERROR_EXAMPLES = {
    "400": _error_example(
        "Validation error",
        "validation_error",
        "There was a validation error.",
        [
            {
                "field": "fields.Amount",
                "value": "{{Opportunity.Field(Amont)}}",
                "constraint": "Unknown opportunity field statement.",
            }
        ],
    ),  # fmt: skip
    "401": _error_example("Not authenticated", "not_authenticated", "Authentication credentials were not provided."),
    "404": _error_example("Not found", "not_found", "Not found."),
    "409": _error_example(
        "Conflict",
        "conflict",
        "There was a conflict.",
        [{"field": "syncs", "constraint": "A sync of this import is pending or active."}],
    ),
    "413": _error_example(
        "Too large",
        "payload_too_large",
        "Storage space exceeded.",
        [{"field": "body", "constraint": "Request body exceeds 33554432 bytes."}],
    ),
    "415": _error_example(
        "Unsupported media type", "unsupported_media_type", 'Unsupported media type "text/xml" in request.'
    ),
    "429": _error_example("Throttled", "throttled", "Too many failed authentication attempts."),
    "507": _error_example(
        "Quota used up",
        "quota_exceeded",
        "Storage space exceeded.",
        [
            {
                "field": "stagedRows",
                "constraint": "The site's quota of staged rows is 10,000,000 and 10,000,000 are used: a sync takes "
                "the staged rows and frees their room when it ends.",
            }
        ],
        quota={"name": "stagedRows", "limit": 10_000_000, "used": 10_000_000},
    ),
}


# --- the list envelope -----------------------------------------------------------------------

_PAGES: dict[str, serializers.Serializer] = {}


def page_of(item, name: str) -> serializers.Serializer:
    """Eloqua's list envelope around `item` (a serializer class), as the component `name`."""
    if name not in _PAGES:
        _PAGES[name] = inline_serializer(
            name=name,
            fields={
                "items": item(many=True),
                "totalResults": serializers.IntegerField(
                    required=False, min_value=0, help_text="All matches; omitted when asked with `totalResults=false`."
                ),
                "limit": serializers.IntegerField(min_value=1, help_text="The page size used."),
                "offset": serializers.IntegerField(min_value=0, help_text="The offset used."),
                "count": serializers.IntegerField(min_value=0, help_text="Items in this page."),
                "hasMore": serializers.BooleanField(help_text="Whether rows follow this page."),
            },
        )
    return _PAGES[name]


def bulk_list_parameters(
    *, order_by: tuple[str, ...] = (), q_terms: tuple[str, ...] = (), max_limit: int = 1000, eloqua: bool = False
) -> list[OpenApiParameter]:
    """The query parameters of a Bulk list (reference 2.2), as far as the list supports them; with
    `eloqua`, also Eloqua's `links` and `depth`, taken and ignored (kernel.paging.ELOQUA_PARAMS).
    Any other parameter is a 400 naming it (kernel.paging.query_check)."""
    params = [
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": max_limit, "default": max_limit},
            description=f"Page size, 1 to {max_limit}. Anything else is a 400 naming `limit`.",
        ),
        OpenApiParameter(
            "offset",
            {"type": "integer", "minimum": 0, "default": 0},
            description="Rows to skip; any offset works (`hasMore` is computed from it).",
        ),
        OpenApiParameter(
            "totalResults",
            OpenApiTypes.BOOL,
            description="`false` leaves `totalResults` out of the envelope (and skips counting). Default true.",
        ),
    ]
    if order_by:
        params.append(
            OpenApiParameter(
                "orderBy",
                OpenApiTypes.STR,
                description=f"`<property> ASC|DESC` on one of: {', '.join(order_by)}. Unknown: 400.",
                examples=[OpenApiExample("Newest first", value=f"{order_by[0]} DESC")],
            )
        )
    if q_terms:
        params.append(
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description=(
                    "Filter `<term><op><value>` (ops `=`, `!=`, `<`, `<=`, `>`, `>=`; `*` is a wildcard; an outer "
                    f"pair of `\"` and a `'…'` value are stripped; terms joined by spaces) on: {', '.join(q_terms)}."
                ),
                examples=[OpenApiExample("By name", value=f"{q_terms[0]}='*Import*'")],
            )
        )
    if eloqua:
        params += [
            OpenApiParameter(
                "links", OpenApiTypes.STR, description="Eloqua's link relations to return: taken and ignored."
            ),
            OpenApiParameter(
                "depth",
                {"type": "string", "enum": sorted(ELOQUA_PARAMS["depth"])},
                description="Eloqua's level of detail: taken and ignored (the answer is the same).",
            ),
        ]
    return params


# --- import definitions ----------------------------------------------------------------------


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1})
class FieldMapField(serializers.DictField):
    """`{column key: markup statement}`, in the client's order."""


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "enum": list(UpdateRule.values)}})
class RuleMapField(serializers.DictField):
    """`{column key: update rule}`."""


_LENIENT_BOOL = '`true`/`false`, also as the strings `"true"`/`"false"`; null or absent means false.'


class _DefinitionIn(serializers.Serializer):
    """A definition as clients send it: `null` means not supplied; read-only and unknown properties
    (`uri`, `createdAt`, `syncActions`, ...) are ignored, so whole objects can be sent back."""

    name = serializers.CharField(min_length=1, max_length=100)
    fields = FieldMapField(help_text="`{key: statement}`, at most 100; the keys are the upload's JSON keys/CSV header.")
    identifierFieldName = serializers.CharField(  # noqa: N815
        min_length=1, max_length=100, required=False, allow_null=True
    )
    updateRule = serializers.ChoiceField(  # noqa: N815
        choices=UpdateRule.choices, required=False, allow_null=True, help_text="Default `always`; any letter case."
    )
    updateRuleByField = RuleMapField(  # noqa: N815
        required=False, allow_null=True, help_text="Per-key rules, used with `updateRule=useFieldRule`."
    )
    importRule = serializers.ChoiceField(  # noqa: N815
        choices=ImportRule.choices, required=False, allow_null=True, help_text="Default `createAndUpdate`."
    )
    isSyncTriggeredOnImport = serializers.BooleanField(  # noqa: N815
        required=False, allow_null=True, help_text="Each data upload then starts a sync. " + _LENIENT_BOOL
    )
    isUpdatingMultipleMatchedRecords = serializers.BooleanField(  # noqa: N815
        required=False, allow_null=True, help_text=_LENIENT_BOOL
    )
    nullIdentifierFieldName = serializers.BooleanField(  # noqa: N815
        required=False, allow_null=True, help_text="Stored and echoed. " + _LENIENT_BOOL
    )
    dataRetentionDuration = serializers.RegexField(  # noqa: N815
        DURATION_PATTERN, required=False, allow_null=True, help_text="ISO 8601, `PT1H` to `P14D`; default `P7D`."
    )
    autoDeleteDuration = serializers.RegexField(  # noqa: N815
        DURATION_PATTERN, required=False, allow_null=True, help_text="ISO 8601, at least `PT1H`."
    )
    importPriorityUri = serializers.RegexField(  # noqa: N815
        r"^/imports/priorities/[1-9]$", required=False, allow_null=True
    )
    externalSystemId = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815


class _CaseSensitiveIn(serializers.Serializer):
    isIdentifierFieldCaseSensitive = serializers.BooleanField(  # noqa: N815
        required=False, allow_null=True, help_text=_LENIENT_BOOL
    )


class OpportunityImportRequestSerializer(_CaseSensitiveIn, _DefinitionIn):
    class Meta:
        ref_name = "OpportunityImport"  # "OpportunityImportRequest" in the request direction


class ContactImportRequestSerializer(_CaseSensitiveIn, _DefinitionIn):
    class Meta:
        ref_name = "ContactImport"


class AccountImportRequestSerializer(_CaseSensitiveIn, _DefinitionIn):
    class Meta:
        ref_name = "AccountImport"


class OpportunityContactLinkageImportRequestSerializer(_DefinitionIn):
    linkOpportunitiesEntityType = serializers.ChoiceField(  # noqa: N815
        choices=["Contact", "Account"],
        required=False,
        allow_null=True,
        help_text="Any letter case; defaults to the kind of the source statement.",
    )
    linkOpportunitiesMatchFieldName = serializers.CharField(  # noqa: N815
        required=False, allow_null=True, help_text="Default: the key mapped to `{{Opportunity.Id}}`."
    )
    linkOpportunitiesSourceField = serializers.CharField(  # noqa: N815
        required=False, allow_null=True, help_text="Default: the other key."
    )
    linkOpportunitiesCaseSensitiveMatchField = serializers.BooleanField(  # noqa: N815
        required=False, allow_null=True, help_text=_LENIENT_BOOL
    )
    linkOpportunitiesCaseSensitiveSourceField = serializers.BooleanField(  # noqa: N815
        required=False, allow_null=True, help_text=_LENIENT_BOOL
    )
    linkOpportunitiesMultipleSourceMatches = serializers.BooleanField(  # noqa: N815
        required=False, allow_null=True, help_text=_LENIENT_BOOL
    )

    class Meta:
        ref_name = "OpportunityContactLinkageImport"


# --- staged data -----------------------------------------------------------------------------

# A JSON upload: an array of flat objects keyed by the definition's keys (other keys are ignored).
DATA_JSON_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": {
            "oneOf": [{"type": "string", "nullable": True}, {"type": "number"}, {"type": "boolean"}],
        },
    },
}
DATA_CSV_SCHEMA = {"type": "string", "description": "UTF-8 CSV (RFC 4180) whose header row holds definition keys."}


# --- syncs -----------------------------------------------------------------------------------


class SyncCreateRequestSerializer(serializers.Serializer):
    syncedInstanceUri = serializers.CharField(  # noqa: N815
        help_text="The definition's `uri` (also accepted with the `/api/bulk/2.0` prefix or no leading slash)."
    )
    callbackUrl = serializers.URLField(  # noqa: N815
        required=False, allow_null=True, help_text="A public http(s) URL called back when the sync ends."
    )

    class Meta:
        ref_name = "SyncCreate"


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "nullable": True}})
class FieldValuesField(serializers.DictField):
    """The row's values as uploaded, keyed by definition key."""


# --- /id, /health ----------------------------------------------------------------------------


class _IdSite(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()

    class Meta:
        ref_name = "IdSite"


class _IdUser(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    displayName = serializers.CharField()  # noqa: N815
    firstName = serializers.CharField(allow_blank=True)  # noqa: N815
    lastName = serializers.CharField(allow_blank=True)  # noqa: N815
    emailAddress = serializers.CharField(allow_blank=True)  # noqa: N815

    class Meta:
        ref_name = "IdUser"


class _IdSoap(serializers.Serializer):
    standard = serializers.CharField()
    dataTransfer = serializers.CharField()  # noqa: N815
    email = serializers.CharField()
    externalAction = serializers.CharField()  # noqa: N815

    class Meta:
        ref_name = "IdSoap"


class _IdRest(serializers.Serializer):
    standard = serializers.CharField(help_text="Ends in `/`; `{version}` is literal.")
    bulk = serializers.CharField(help_text="`<base>/API/Bulk/{version}/`; `{version}` is literal.")

    class Meta:
        ref_name = "IdRest"


class _IdApis(serializers.Serializer):
    soap = _IdSoap()
    rest = _IdRest()

    class Meta:
        ref_name = "IdApis"


class _IdUrls(serializers.Serializer):
    base = serializers.CharField(help_text="This server's public origin (PUBLIC_BASE_URL, else the request's).")
    apis = _IdApis()

    class Meta:
        ref_name = "IdUrls"


class IdSerializer(serializers.Serializer):
    site = _IdSite()
    user = _IdUser()
    urls = _IdUrls()

    class Meta:
        ref_name = "Id"


class IdAnswerSerializer(serializers.Serializer):
    """`Id`, or the JSON string `"Not authenticated."` (mapped by IdAnswerExtension)."""

    class Meta:
        ref_name = "IdAnswer"


class _HealthChecks(serializers.Serializer):
    database = serializers.CharField(help_text="`ok`, or `unavailable: <error class>`.")
    broker = serializers.CharField(help_text="`ok`, or `unavailable: <error class>` (syncs wait for it).")
    cache = serializers.CharField(help_text="`ok`, or `unavailable: <error class>` (throttling is skipped).")

    class Meta:
        ref_name = "HealthChecks"


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = _HealthChecks()

    class Meta:
        ref_name = "Health"


def error_response(code: str, description: str) -> OpenApiResponse:
    """An error answer with our error body, for operations that document a status of their own."""
    example = ERROR_EXAMPLES.get(code)
    return OpenApiResponse(ErrorSerializer, description=description, examples=[example] if example else [])


CONFLICT = error_response("409", "A sync of this definition is pending or active.")
# The site's storage quotas (pipeline.quotas): a write that does not fit, and a site already full.
QUOTA_413 = OpenApiResponse(
    ErrorSerializer,
    description=(
        "The body is larger than the upload limit (`payload_too_large`), or than the room left in one of the "
        "site's quotas (`quota_exceeded`, with `quota` naming it, its limit, the use and what the request adds)."
    ),
    examples=[
        ERROR_EXAMPLES["413"],
        _error_example(
            "Over the quota",
            "quota_exceeded",
            "Storage space exceeded.",
            [
                {
                    "field": "stagedRows",
                    "value": "1500",
                    "constraint": "The site's quota of staged rows is 10,000; 9,000 are used and this request adds 1,500.",
                }
            ],
            quota={"name": "stagedRows", "limit": 10_000, "used": 9_000, "requested": 1_500},
        ),
    ],
)
QUOTA_507 = error_response(
    "507",
    "One of the site's quotas is used up already (`quota_exceeded`, with `quota`): staged rows and bytes until a "
    "sync takes them, batch files or rejected rows until an operator makes room. Nothing was stored.",
)


# --- OAuth 2.0 token endpoint ----------------------------------------------------------------

GRANT_TYPES = ["password", "refresh_token", "client_credentials"]


class TokenRequestSerializer(serializers.Serializer):
    """RFC 6749 token request, as a form or as JSON. Client credentials by HTTP Basic or in the body."""

    grant_type = serializers.ChoiceField(choices=GRANT_TYPES)
    username = serializers.CharField(required=False, help_text="`password` grant: `Site\\User`, e.g. `Demo\\api`.")
    password = serializers.CharField(required=False, help_text="`password` grant.")
    refresh_token = serializers.CharField(required=False, help_text="`refresh_token` grant: the last one issued.")
    scope = serializers.ChoiceField(choices=["full"], required=False, help_text="The only scope; the default.")
    client_id = serializers.CharField(required=False, help_text="When the client does not authenticate by Basic.")
    client_secret = serializers.CharField(required=False, help_text="When the client does not authenticate by Basic.")

    class Meta:
        ref_name = "Token"


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["Bearer"], help_text="Send `Authorization: Bearer <access_token>`.")
    expires_in = serializers.IntegerField(help_text="Seconds (OAUTH_ACCESS_TOKEN_SECONDS, default 28800).")
    refresh_token = serializers.CharField(
        required=False, help_text="Rotates: each use returns a new one and spends the old. Not for client_credentials."
    )
    scope = serializers.CharField()

    class Meta:
        ref_name = "Token"


OAUTH_ERRORS = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "too_many_attempts",  # 429: too many failed attempts (kernel.throttle); not RFC 6749's, as Auth0 names it
]


class TokenErrorSerializer(serializers.Serializer):
    """RFC 6749 section 5.2: OAuth clients read `error`."""

    error = serializers.ChoiceField(choices=OAUTH_ERRORS)
    error_description = serializers.CharField(required=False)

    class Meta:
        ref_name = "TokenError"


class TokenRefusalSerializer(TokenErrorSerializer, ErrorSerializer):
    """A token request refused before OAuth sees it (text PostgreSQL cannot hold): RFC 6749's
    `error` for OAuth clients and our error body (`code`, `failures`) for everyone else, in one."""

    class Meta:
        ref_name = "TokenRefusal"


# --- Idempotency-Key (kernel.idempotency) ---------------------------------------------------

ERROR_EXAMPLES["422"] = _error_example(
    "Key reused",
    "idempotency_key_reused",
    "This Idempotency-Key was used for a different request.",
    [{"field": "Idempotency-Key", "value": "6b1f9b1e-upload-1",
      "constraint": "This Idempotency-Key was used for a different request."}],
)  # fmt: skip


def idempotency_parameters(*success: int) -> list[OpenApiParameter]:
    """The request's Idempotency-Key, and the header a replayed answer (one of `success`) carries."""
    return [
        OpenApiParameter(
            "Idempotency-Key",
            {"type": "string", "minLength": 1, "maxLength": 257},
            OpenApiParameter.HEADER,
            description=(
                "Optional: retry safely. The same key with the same request within IDEMPOTENCY_KEY_SECONDS (24 h) "
                "replays the first answer (with `Idempotent-Replayed: true`) without doing the work again; with "
                "another request it is a 422; while the first is still running, a 409. Up to 255 visible ASCII "
                "characters (a UUID; a quoted string is unquoted), per site and user."
            ),
        ),
        OpenApiParameter(
            "Idempotent-Replayed",
            {"type": "string", "enum": ["true"]},
            OpenApiParameter.HEADER,
            response=list(success),
            description="Present on a replayed answer.",
        ),
    ]


def idempotency_responses(conflict: str) -> dict:
    """409 (`conflict`, or the key still in flight) and 422 (the key reused), for an idempotent write."""
    in_flight = "A request with this Idempotency-Key is still running."
    return {
        409: error_response("409", f"{conflict} Or: {in_flight}" if conflict else in_flight),
        422: error_response("422", "This Idempotency-Key was used for a different request."),
    }
