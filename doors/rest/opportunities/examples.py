"""OpenAPI examples of the opportunity REST API's bodies (attached to the serializers), as it answers."""

from drf_spectacular.utils import OpenApiExample

ACCOUNT_ID = "487b1e28-0b33-47a0-9e70-b6c3f753cd07"
OPPORTUNITY_ID = "9c73db1c-0a3e-4927-9630-160abb7e0682"


def _pair(name: str, answer: dict, request: dict) -> list[OpenApiExample]:
    return [
        OpenApiExample(name, value=answer, response_only=True),
        OpenApiExample(name, value=request, request_only=True),
    ]


TAG = {"id": 1, "name": "Enterprise"}
OWNER = {"id": 1, "externalId": "U-7", "name": "Jane Smith", "email": "jane@acme.example"}
PIPELINE = {"id": 1, "externalId": "default", "label": "Sales"}
STAGE = {
    "id": 8,
    "name": "Demo booked",
    "probability": 0.4,
    "statusId": "open",
    "sortOrder": 25,
    "externalId": None,
    "pipeline": None,
    "isDefault": False,
}
OPPORTUNITY = {
    "id": OPPORTUNITY_ID,
    "externalId": "CRM-1001",
    "name": "Acme renewal",
    "description": None,
    "nextSteps": None,
    "amount": 12000.0,
    "currency": "EUR",
    "probability": 0.4,
    "weightedAmount": 4800.0,
    "openDate": "2026-01-05",
    "closeDate": "2026-03-31",
    "priorityId": None,
    "isActive": True,
    "createdAt": "2026-01-05T09:30:00.000000Z",
    "modifiedAt": "2026-01-05T09:30:00.000000Z",
    "company": {"id": ACCOUNT_ID, "name": "Acme", "domain": "acme.example", "externalId": "A-1"},
    "owner": OWNER,
    "opportunityStage": {"id": 8, "name": "Demo booked", "probability": 0.4, "statusId": "open", "externalId": None,
                         "pipeline": None},
    "tags": [TAG],
    "accountName": None,
    "ownerName": None,
    "territory": None,
    "forecastToCloseDate": None,
    "primaryCampaignId": None,
    "occurredAt": None,
    "labels": [],
    "properties": {},
    "customFields": {},
    "cloudFolderUrl": None,
    "salesforceId": None,
    "hubspotId": None,
}  # fmt: skip

TAG_EXAMPLES = _pair("A tag", TAG, {"name": "Enterprise"})
OWNER_EXAMPLES = _pair("An owner", OWNER, {"externalId": "U-7", "name": "Jane Smith", "email": "jane@acme.example"})
PIPELINE_EXAMPLES = _pair("A pipeline", PIPELINE, {"externalId": "default", "label": "Sales"})
STAGE_EXAMPLES = _pair(
    "A stage", STAGE, {"name": "Demo booked", "probability": 0.4, "statusId": "open", "sortOrder": 25}
)
OPPORTUNITY_EXAMPLES = [OpenApiExample("An opportunity", value=OPPORTUNITY, response_only=True)]
OPPORTUNITY_INPUT_EXAMPLES = [
    OpenApiExample(
        "An opportunity",
        value={"name": "Acme renewal", "externalId": "CRM-1001", "companyId": ACCOUNT_ID, "amount": 12000,
               "currency": "EUR", "opportunityStageId": 8, "closeDate": "2026-03-31", "tagIds": [1], "ownerId": 1},
        request_only=True,
    )
]  # fmt: skip
OPPORTUNITY_PAGE_EXAMPLE = OpenApiExample(
    "One page",
    value={"items": [OPPORTUNITY], "totalResults": 1, "limit": 1000, "offset": 0, "count": 1, "hasMore": False},
)
DEALS_REQUEST_EXAMPLES = [
    OpenApiExample(
        "Two deals",
        value={
            "deals": [
                {"externalDealId": "D-1", "name": "Big deal", "amount": 5000, "stageLabel": "Proposal",
                 "dealCurrencyCode": "EUR", "associatedAccounts": [{"domain": "acme.example"}]},
                {"externalDealId": "D-2", "name": "Small deal", "amount": 10, "dealCurrencyCode": "XYZ"},
            ]
        },
        request_only=True,
    )
]  # fmt: skip
DEALS_RESPONSE_EXAMPLES = [
    OpenApiExample(
        "One upserted, one failed",
        value={
            "results": [
                {"index": 0, "externalDealId": "D-1", "status": "upserted", "action": "created",
                 "id": "989912d6-8d6b-4df3-b43a-d725ad3198e7"},
                {"index": 1, "externalDealId": "D-2", "status": "failed",
                 "error": "dealCurrencyCode: Must be a 3-letter ISO 4217 currency code.",
                 "failures": [{"field": "dealCurrencyCode", "constraint": "Must be a 3-letter ISO 4217 currency code."}]},
            ],
            "summary": {"total": 2, "upserted": 1, "failed": 1},
        },
        response_only=True,
    )
]  # fmt: skip
