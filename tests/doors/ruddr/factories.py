import factory
from factory.django import DjangoModelFactory

from entities.opportunities.models import Client, LeadSource, OpportunityType, Owner, Practice, Project, Tag
from tests.factories import SiteFactory


class OpportunityTypeFactory(DjangoModelFactory):
    class Meta:
        model = OpportunityType

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Type {n}")


class LeadSourceFactory(DjangoModelFactory):
    class Meta:
        model = LeadSource

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Source {n}")


class PracticeFactory(DjangoModelFactory):
    class Meta:
        model = Practice

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Practice {n}")


class ClientFactory(DjangoModelFactory):
    class Meta:
        model = Client

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Client {n}")
    key = factory.Sequence(lambda n: f"client-{n}")


class ProjectFactory(DjangoModelFactory):
    class Meta:
        model = Project

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class OwnerFactory(DjangoModelFactory):
    class Meta:
        model = Owner

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Member {n}")


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Tag {n}")
