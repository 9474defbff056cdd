import factory
from factory.django import DjangoModelFactory

from entities.contacts.models import Account, Contact
from tests.factories import SiteFactory


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Company {n}")
    external_id = factory.Sequence(lambda n: f"ACC-{n}")


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    site = factory.SubFactory(SiteFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.com")
