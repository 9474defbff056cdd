import secrets

import factory
from factory.django import DjangoModelFactory

from entities.opportunities.models import Opportunity, Stage
from kernel.models import ApiToken, Site, User, hash_token
from pipeline.models import ImportDefinition


class SiteFactory(DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.LazyFunction(lambda: f"Site{factory.Faker._get_faker().unique.random_int(1, 10**9)}")

    @factory.post_generation
    def stages(obj, create, extracted, **kwargs):
        from entities.opportunities.services import stages_create_defaults

        if create:
            stages_create_defaults(site=obj)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    site = factory.SubFactory(SiteFactory)
    username = factory.Faker("user_name")
    password = factory.django.Password("secret-pass")


class TokenFactory(DjangoModelFactory):
    """An API token; the raw value is a factory parameter, kept on the instance as `.raw`."""

    class Meta:
        model = ApiToken

    class Params:
        raw = factory.LazyFunction(lambda: secrets.token_urlsafe(30))

    user = factory.SubFactory(UserFactory)
    prefix = factory.LazyAttribute(lambda o: o.raw[:8])
    key_hash = factory.LazyAttribute(lambda o: hash_token(o.raw))

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        instance.raw = cls._raw_seen

    @classmethod
    def _generate(cls, strategy, params):
        params.setdefault("raw", secrets.token_urlsafe(30))
        cls._raw_seen = params["raw"]
        return super()._generate(strategy, params)


class StageFactory(DjangoModelFactory):
    class Meta:
        model = Stage

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")


OPPORTUNITY_FIELDS = {
    "OpportunityID": "{{Opportunity.Id}}",
    "OpportunityName": "{{Opportunity.Field(Name)}}",
    "AccountName": "{{Opportunity.Field(AccountName)}}",
    "CreatedDate": "{{Opportunity.CreatedAt}}",
    "Amount": "{{Opportunity.Field(Amount)}}",
    "CloseDate": "{{Opportunity.Field(CloseDate)}}",
    "Currency": "{{Opportunity.Field(Currency)}}",
    "Stage": "{{Opportunity.Field(Stage)}}",
    "Territory": "{{Opportunity.Field(Territory)}}",
}


class ImportDefinitionFactory(DjangoModelFactory):
    class Meta:
        model = ImportDefinition

    site = factory.SubFactory(SiteFactory)
    entity = "opportunity"
    name = factory.Sequence(lambda n: f"Import {n}")
    fields = factory.LazyFunction(lambda: [[k, v] for k, v in OPPORTUNITY_FIELDS.items()])
    identifier_field_name = "OpportunityID"
    created_by = "tester"
    updated_by = "tester"


class OpportunityFactory(DjangoModelFactory):
    class Meta:
        model = Opportunity

    site = factory.SubFactory(SiteFactory)
    external_id = factory.Sequence(lambda n: f"OPP-{n}")
    name = factory.Faker("company")
    amount = 100
    stage = factory.LazyAttribute(lambda o: Stage.objects.filter(site=o.site).order_by("sort_order").first())
