"""OpenAPI examples: the document's own (`seeds/002_…`), and the lists in its shape."""

from drf_spectacular.utils import OpenApiExample

# The document's example request, with the two placeholder values its own rules refuse
# (`"probability": 123` for a 0-1 value, `"currency": "<string>"` for a 3-letter code) made valid.
OPPORTUNITY_REQUEST = {
    "name": "Acme Corp - Mobile App",
    "companyId": "d4e5f6a7-b8c9-0123-4567-89abcdef0123",
    "opportunityStageId": "2b3c4d5e-6f7a-8901-bcde-f12345678901",
    "description": "Proposal for a new mobile application.",
    "nextSteps": "Follow up with client on proposal.",
    "amount": 50000,
    "isActive": True,
    "probability": 0.75,
    "closeDate": "2025-06-30",
    "priorityId": "high",
    "currency": "USD",
    "ownerId": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "opportunityLeadSourceId": "c3d4e5f6-a7b8-9012-cdef-123456789012",
    "opportunityTypeId": "b2c3d4e5-f6a7-8901-bcde-f12345678901",
    "tagIds": ["1a2b3c4d-5e6f-7890-abcd-ef1234567890"],
    "practiceId": "f6a7b8c9-d0e1-2345-6789-abcdef012345",
    "projects": [{"id": "3c4d5e6f-7a8b-9012-cdef-123456789012", "amount": 50000}],
    "cloudFolderUrl": "https://drive.google.com/drive/folders/abc123",
}

# The document's example response, verbatim.
OPPORTUNITY = {
    "id": "7bcf2403-c6ea-4f9a-a9fa-bfa53a0d43b8",
    "name": "Acme Corp - Mobile App",
    "description": "Proposal for a new mobile application.",
    "nextSteps": "Follow up with client on proposal.",
    "amount": 50000,
    "isActive": True,
    "probability": 0.75,
    "priorityId": "high",
    "createdAt": "2025-01-15T20:47:03.284Z",
    "openDate": "2025-01-15",
    "closeDate": "2025-06-30",
    "modifiedAt": "2025-01-15T20:47:03.284Z",
    "currency": "USD",
    "cloudFolderUrl": "https://drive.google.com/drive/folders/abc123",
    "owner": {"id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "name": "John Davis"},
    "opportunityType": {"id": "b2c3d4e5-f6a7-8901-bcde-f12345678901", "name": "New Business"},
    "opportunityLeadSource": {"id": "c3d4e5f6-a7b8-9012-cdef-123456789012", "name": "Referral"},
    "company": {
        "id": "d4e5f6a7-b8c9-0123-4567-89abcdef0123",
        "name": "Acme Corp",
        "client": {"id": "e5f6a7b8-c9d0-1234-5678-9abcdef01234", "key": "acme-corp", "name": "Acme Corp"},
    },
    "practice": {"id": "f6a7b8c9-d0e1-2345-6789-abcdef012345", "name": "Consulting"},
    "tags": [{"id": "1a2b3c4d-5e6f-7890-abcd-ef1234567890", "name": "Enterprise"}],
    "opportunityStage": {"id": "2b3c4d5e-6f7a-8901-bcde-f12345678901", "name": "Proposal", "statusId": "open"},
    "projects": [{"id": "3c4d5e6f-7a8b-9012-cdef-123456789012", "name": "Mobile App Development", "amount": 50000}],
    "weightedAmount": 37500,
    "timeSpent": 0,
    "salesforceId": "0060b00000BkFxAAAV",
    "hubspotId": "12345678",
}

OPPORTUNITY_REQUEST_EXAMPLES = [OpenApiExample("The document's example", value=OPPORTUNITY_REQUEST, request_only=True)]
OPPORTUNITY_PATCH_EXAMPLES = [
    OpenApiExample(
        "Move to a stage",
        value={"opportunityStageId": OPPORTUNITY_REQUEST["opportunityStageId"], "probability": 0.9},
        request_only=True,
    )
]
OPPORTUNITY_EXAMPLES = [OpenApiExample("The document's example", value=OPPORTUNITY)]
OPPORTUNITY_PAGE_EXAMPLES = [OpenApiExample("A page", value={"results": [OPPORTUNITY], "hasMore": True})]

REFERENCE_EXAMPLES = {
    "opportunity-stages": {
        "id": "2b3c4d5e-6f7a-8901-bcde-f12345678901",
        "name": "Proposal",
        "probability": 0.5,
        "statusId": "open",
        "isActive": True,
    },
    "opportunity-types": {"id": "b2c3d4e5-f6a7-8901-bcde-f12345678901", "name": "New Business", "isActive": True},
    "opportunity-lead-sources": {"id": "c3d4e5f6-a7b8-9012-cdef-123456789012", "name": "Referral", "isActive": True},
    "practices": {"id": "f6a7b8c9-d0e1-2345-6789-abcdef012345", "name": "Consulting", "isActive": True},
    "tags": {"id": "1a2b3c4d-5e6f-7890-abcd-ef1234567890", "name": "Enterprise"},
    "members": {"id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "name": "John Davis", "email": "john@example.com"},
    "projects": {
        "id": "3c4d5e6f-7a8b-9012-cdef-123456789012",
        "name": "Mobile App Development",
        "isActive": True,
        "client": OPPORTUNITY["company"]["client"],
    },
    "companies": OPPORTUNITY["company"],
}
