"""OpenAPI examples of the contact and account REST bodies (attached to the serializers), as it answers."""

from drf_spectacular.utils import OpenApiExample

ACCOUNT_ID = "487b1e28-0b33-47a0-9e70-b6c3f753cd07"

ACCOUNT = {
    "id": ACCOUNT_ID,
    "name": "Acme",
    "domain": "acme.example",
    "externalId": "A-1",
    "city": "Berlin",
    "country": "DE",
    "customFields": {},
    "createdAt": "2026-01-05T09:30:00.000000Z",
    "updatedAt": "2026-01-05T09:30:00.000000Z",
}
CONTACT = {
    "id": "b4307fbb-1fbe-476a-9a85-ee3527127e06",
    "email": "ann@acme.example",
    "firstName": "Ann",
    "lastName": "Lee",
    "phone": None,
    "company": None,
    "country": None,
    "externalId": None,
    "visitorId": None,
    "account": {"id": ACCOUNT_ID, "name": "Acme"},
    "customFields": {},
    "createdAt": "2026-01-05T09:30:00.000000Z",
    "updatedAt": "2026-01-05T09:30:00.000000Z",
}

ACCOUNT_EXAMPLES = [OpenApiExample("An account", value=ACCOUNT, response_only=True)]
ACCOUNT_INPUT_EXAMPLES = [
    OpenApiExample(
        "An account",
        value={"name": "Acme", "domain": "acme.example", "externalId": "A-1", "city": "Berlin", "country": "DE"},
        request_only=True,
    )
]
CONTACT_EXAMPLES = [OpenApiExample("A contact", value=CONTACT, response_only=True)]
CONTACT_INPUT_EXAMPLES = [
    OpenApiExample(
        "A contact",
        value={"email": "ann@acme.example", "firstName": "Ann", "lastName": "Lee", "accountId": ACCOUNT_ID},
        request_only=True,
    )
]
OPPORTUNITY_SUMMARY_EXAMPLES = [
    OpenApiExample(
        "A linked opportunity",
        value={"id": "9c73db1c-0a3e-4927-9630-160abb7e0682", "externalId": "CRM-1001", "name": "Acme renewal",
               "amount": "12000.0000", "stage": "Demo booked"},
        response_only=True,
    )
]  # fmt: skip
