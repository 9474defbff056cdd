"""The opportunity field catalog (reference section 5.1)."""

from pipeline.catalog import EntitySpec, FieldSpec
from pipeline.models import DataType

F = FieldSpec
OPPORTUNITY_FIELDS = (
    F(1, "Opportunity ID", "RemoteOpportunityID", "{{Opportunity.Id}}", DataType.STRING,
      "external_id", 255, not_null=True),
    F(2, "Opportunity Name", "OpportunityName", "{{Opportunity.Field(Name)}}", DataType.STRING,
      "name", 255, not_null=True),
    F(3, "Created Date", "CreatedDate", "{{Opportunity.CreatedAt}}", DataType.DATE, "created_at"),
    F(4, "Stage", "OpportunityStageID", "{{Opportunity.Field(Stage)}}", DataType.STRING,
      "stage_id", 100, not_null=True),
    F(5, "Amount", "Amount", "{{Opportunity.Field(Amount)}}", DataType.NUMBER, "amount",
      not_null=True),
    F(6, "Close Date", "CloseDate", "{{Opportunity.Field(CloseDate)}}", DataType.DATE, "close_date"),
    F(7, "Currency", "Currency", "{{Opportunity.Field(Currency)}}", DataType.STRING, "currency", 3),
    F(8, "Forecast To Close Date", "ForecastToCloseDate",
      "{{Opportunity.Field(ForecastToCloseDate)}}", DataType.DATE, "forecast_to_close_date"),
    F(9, "Territory", "Territory", "{{Opportunity.Field(Territory)}}", DataType.STRING,
      "territory", 255),
    F(10, "Account Name", "AccountName", "{{Opportunity.Field(AccountName)}}", DataType.STRING,
      "account_name", 255),
    F(11, "Owner", "Owner", "{{Opportunity.Field(Owner)}}", DataType.STRING, "owner_name", 255),
    F(12, "Primary Campaign Id", "PrimaryCampaignId", "{{Opportunity.Field(PrimaryCampaignId)}}",
      DataType.STRING, "primary_campaign_id", 255),
    F(13, "Updated Date", "UpdatedDate", "{{Opportunity.UpdatedAt}}", DataType.DATE, "updated_at",
      read_only=True),
    # The record's ids in Salesforce and HubSpot (Ruddr's `salesforceId` and `hubspotId`).
    F(14, "Salesforce ID", "SalesforceId", "{{Opportunity.Field(SalesforceId)}}", DataType.STRING,
      "salesforce_id", 255),
    F(15, "HubSpot ID", "HubspotId", "{{Opportunity.Field(HubspotId)}}", DataType.STRING,
      "hubspot_id", 255),
)  # fmt: skip

OPPORTUNITY = EntitySpec(
    entity="opportunity",
    label="Opportunity",
    imports_uri="/opportunities/imports",
    case_sensitive_flag="first",
    statement_root="opportunity",
    fields_uri="/opportunities/fields",
    standard=OPPORTUNITY_FIELDS,
    required=(
        "opportunity.id",
        "opportunity.field(name)",
        "opportunity.field(stage)",
        "opportunity.field(amount)",
    ),
    identifier="opportunity.id",
)
