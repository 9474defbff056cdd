"""Concurrent deal upserts on the same ids: no errors, no duplicates (committed data, real threads)."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from entities.opportunities.models import Opportunity, Owner, Pipeline, Stage

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/deals"


def run_concurrently(token, bodies):
    """POST every body at once from its own thread (own DB connection); returns the responses."""
    barrier = threading.Barrier(len(bodies))
    responses = [None] * len(bodies)

    def post(i, body):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=token.raw)
        try:
            barrier.wait(timeout=30)
            responses[i] = client.post(URL, body, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i, b)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return responses


def deals(ids, **extra):
    return [
        {
            "externalDealId": f"deal-{i}",
            "name": f"Deal {i}",
            "amount": i,
            "stageId": f"stage-{i % 5}",
            "pipelineId": "pipe-1",
            "ownerId": f"owner-{i % 3}",
            "ownerEmail": f"owner{i % 3}@example.com",
            **extra,
        }
        for i in ids
    ]


def test_identical_concurrent_requests_neither_raise_nor_duplicate(api, token):
    body = {"deals": deals(range(100))}

    responses = run_concurrently(token, [body] * 4)

    for response in responses:
        assert response.status_code == 200, response.content
        assert response.json()["summary"] == {"total": 100, "upserted": 100, "failed": 0}
    assert Opportunity.objects.filter(site=api.site).count() == 100
    assert Stage.objects.filter(site=api.site, external_id__startswith="stage-").count() == 5
    assert Owner.objects.filter(site=api.site).count() == 3
    assert Pipeline.objects.filter(site=api.site).count() == 1
    actions = [r["action"] for resp in responses for r in resp.json()["results"]]
    assert actions.count("created") == 100  # each deal created exactly once, whoever won


def test_overlapping_requests_in_opposite_orders_do_not_deadlock(api, token):
    forward = {"deals": deals(range(0, 80))}
    backward = {"deals": deals(reversed(range(20, 100)), name="Later name")}

    responses = run_concurrently(token, [forward, backward, forward, backward])

    assert all(r.status_code == 200 for r in responses), [r.content[:300] for r in responses]
    assert Opportunity.objects.filter(site=api.site).count() == 100
    assert Opportunity.objects.filter(site=api.site).values("external_id").distinct().count() == 100


def test_concurrent_new_owner_emails_make_one_owner(api, token):
    bodies = [
        {"deals": [{"externalDealId": f"d-{n}-{i}", "name": "x", "ownerEmail": "New.Person@example.com"}
                   for i in range(10)]}
        for n in range(4)
    ]  # fmt: skip
    responses = run_concurrently(token, bodies)
    assert all(r.status_code == 200 for r in responses)
    assert Owner.objects.filter(site=api.site, email__iexact="new.person@example.com").count() == 1
