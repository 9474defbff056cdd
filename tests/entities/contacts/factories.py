"""Kept for the tests that import the contact factories from here; they live in tests.factories."""

from tests.factories import AccountFactory, ContactFactory

__all__ = ["AccountFactory", "ContactFactory"]
