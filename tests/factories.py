"""One factory_boy factory per model that tests build (STYLE.md section 7): tests set only the
fields they assert on, and what a factory makes is consistent (a sync has its definition, its uri,
and one lane row per lane)."""

import secrets
import uuid

import factory
from factory.django import DjangoModelFactory

from doors.batch.models import BatchJob
from entities.contacts.models import Account, Contact
from entities.linkage.models import OpportunityContact
from entities.opportunities.models import (
    Client,
    LeadSource,
    Opportunity,
    OpportunityType,
    Owner,
    Practice,
    Project,
    Stage,
    Tag,
)
from kernel.models import ApiToken, Site, User, hash_token
from pipeline.models import ImportDefinition, Reject, StagedUpload, Sync, SyncLane, SyncLog


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


class ContactImportDefinitionFactory(ImportDefinitionFactory):
    entity = "contact"
    fields = factory.LazyFunction(
        lambda: [["Email", "{{Contact.Field(C_EmailAddress)}}"], ["First", "{{Contact.Field(C_FirstName)}}"]]
    )
    identifier_field_name = "Email"


class AccountImportDefinitionFactory(ImportDefinitionFactory):
    entity = "account"
    fields = factory.LazyFunction(
        lambda: [["CompanyId", "{{Account.Field(CompanyIDExt)}}"], ["Name", "{{Account.Field(M_CompanyName)}}"]]
    )
    identifier_field_name = "CompanyId"


class LinkImportDefinitionFactory(ImportDefinitionFactory):
    """Opportunities linked to contacts by e-mail (tests.entities.linkage.helpers.link_definition makes
    one through the API's validation; this is the same row)."""

    entity = "opportunity_link"
    fields = factory.LazyFunction(
        lambda: [
            ["EmailAddress", "{{Opportunity.Contact.Field(C_EmailAddress)}}"],
            ["OpportunityID", "{{Opportunity.Id}}"],
        ]
    )
    identifier_field_name = "OpportunityID"
    link_entity_type = "Contact"
    link_match_field_name = "OpportunityID"
    link_source_field = "EmailAddress"


class StagedUploadFactory(DjangoModelFactory):
    """An upload's record (its rows are staged by tests.pipeline.helpers.stage, which makes one)."""

    class Meta:
        model = StagedUpload

    definition = factory.SubFactory(ImportDefinitionFactory)
    content_type = "application/json"
    columns = factory.LazyAttribute(lambda o: [key for key, _ in o.definition.fields])


class SyncFactory(DjangoModelFactory):
    """A sync of a real definition of its site (its uri is the definition's), with a lane row per
    lane, as `sync_snapshot` makes it; the snapshot (ranges, rows) is empty unless given. A sync
    that runs is made by `sync_start` on staged rows (tests.pipeline.helpers.run_sync); this is for
    syncs whose rows a test does not need (callbacks, metrics, listings, guards)."""

    class Meta:
        model = Sync
        skip_postgeneration_save = True

    site = factory.SubFactory(SiteFactory)
    definition = factory.SubFactory(ImportDefinitionFactory, site=factory.SelfAttribute("..site"))
    synced_instance_uri = factory.LazyAttribute(lambda o: o.definition.uri)
    created_by = "tester"
    lanes = 1
    range_ends = factory.LazyFunction(list)
    range_rows = factory.LazyAttribute(lambda o: o.range_ends[0] if o.range_ends else 0)
    upto_id = factory.LazyAttribute(lambda o: o.range_ends[-1] if o.range_ends else 0)
    total_rows = factory.LazyAttribute(lambda o: o.range_ends[-1] if o.range_ends else 0)

    @factory.post_generation
    def with_lanes(obj, create, extracted, **kwargs):
        """One SyncLane per lane (`with_lanes=False`: none, as a sync made before lanes)."""
        if create and extracted is not False:
            SyncLane.objects.bulk_create(SyncLane(sync=obj, lane=lane, **kwargs) for lane in range(obj.lanes))


class SyncLaneFactory(DjangoModelFactory):
    class Meta:
        model = SyncLane

    sync = factory.SubFactory(SyncFactory, with_lanes=False)
    lane = 0


class SyncLogFactory(DjangoModelFactory):
    class Meta:
        model = SyncLog

    sync = factory.SubFactory(SyncFactory)
    severity = "information"
    status_code = "ELQ-00001"
    message = "Total records processed."


class RejectFactory(DjangoModelFactory):
    class Meta:
        model = Reject

    sync = factory.SubFactory(SyncFactory, status="warning")
    record_index = factory.Sequence(lambda n: n + 1)
    field_values = factory.LazyAttribute(lambda o: {"OpportunityID": f"OPP-{o.record_index}", "Amount": "ten"})
    invalid_fields = factory.LazyFunction(lambda: ["Amount"])
    status_code = "ELQ-00032"
    message = "Malformed records."


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


class OpportunityContactFactory(DjangoModelFactory):
    """A link; its opportunity and contact are of its site."""

    class Meta:
        model = OpportunityContact

    site = factory.SubFactory(SiteFactory)
    opportunity = factory.SubFactory(OpportunityFactory, site=factory.SelfAttribute("..site"))
    contact = factory.SubFactory(ContactFactory, site=factory.SelfAttribute("..site"))


class BatchJobFactory(DjangoModelFactory):
    """A batch job's row only (no definition, sync or files: `batch_job_create` makes those)."""

    class Meta:
        model = BatchJob

    site = factory.SubFactory(SiteFactory)
    uuid = factory.LazyFunction(uuid.uuid4)
    created_by = "tester"


# Ruddr's references of an opportunity (doors/ruddr), and owners and tags.
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
