"""The contact and account field catalogs (reference sections 5.3 and 6)."""

from pipeline.catalog import EntitySpec, FieldSpec
from pipeline.models import DataType

F = FieldSpec
CONTACT_FIELDS = (
    F(100001, "Email Address", "C_EmailAddress", "{{Contact.Field(C_EmailAddress)}}", DataType.EMAIL,
      "email", 254, unique=True),
    F(100002, "First Name", "C_FirstName", "{{Contact.Field(C_FirstName)}}", DataType.STRING, "first_name", 100),
    F(100003, "Last Name", "C_LastName", "{{Contact.Field(C_LastName)}}", DataType.STRING, "last_name", 100),
    F(100004, "Business Phone", "C_BusPhone", "{{Contact.Field(C_BusPhone)}}", DataType.STRING, "phone", 50),
    F(100005, "Company", "C_Company", "{{Contact.Field(C_Company)}}", DataType.STRING, "company", 255),
    F(100006, "Country", "C_Country", "{{Contact.Field(C_Country)}}", DataType.STRING, "country", 100),
    F(100007, "Eloqua Contact ID External", "ContactIDExt", "{{Contact.Field(ContactIDExt)}}", DataType.STRING,
      "external_id", 255, unique=True),
)  # fmt: skip
CONTACT_HIDDEN = (
    # The contact's id on our wire (REST `id`): its uuid.
    F(100100, "Contact ID", "ContactID", "{{Contact.Id}}", DataType.STRING, "uuid", 36, unique=True),
    # The contact's account, named by any of the account's identifiers (reference 5 and 6): its external id
    # (exactly), its company name (ignoring case; a name several accounts share is ambiguous) or its id (uuid).
    # At most one of them per definition (they all set the contact's account).
    F(100101, "Account External ID", "CompanyIDExt", "{{Contact.Account.Field(CompanyIDExt)}}", DataType.STRING,
      "account_id", 255),
    F(100102, "Account Company Name", "M_CompanyName", "{{Contact.Account.Field(M_CompanyName)}}", DataType.STRING,
      "account_id", 255),
    F(100103, "Account ID", "AccountID", "{{Contact.Account.Id}}", DataType.STRING, "account_id", 36),
)  # fmt: skip

ACCOUNT_FIELDS = (
    F(200001, "Company Name", "M_CompanyName", "{{Account.Field(M_CompanyName)}}", DataType.STRING, "name", 255,
      not_null=True),
    F(200002, "Eloqua Company ID External", "CompanyIDExt", "{{Account.Field(CompanyIDExt)}}", DataType.STRING,
      "external_id", 255, unique=True),
    F(200003, "Domain", "M_Domain", "{{Account.Field(M_Domain)}}", DataType.STRING, "domain", 255),
    F(200004, "City", "M_City", "{{Account.Field(M_City)}}", DataType.STRING, "city", 100),
    F(200005, "Country", "M_Country", "{{Account.Field(M_Country)}}", DataType.STRING, "country", 100),
)  # fmt: skip
ACCOUNT_HIDDEN = (F(200100, "Account ID", "AccountID", "{{Account.Id}}", DataType.STRING, "uuid", 36, unique=True),)

CONTACT = EntitySpec(
    entity="contact",
    label="Contact",
    imports_uri="/contacts/imports",
    statement_root="contact",
    fields_uri="/contacts/fields",
    standard=CONTACT_FIELDS,
    hidden=CONTACT_HIDDEN,
    identifiers=("contact.field(c_emailaddress)", "contact.field(contactidext)", "contact.id"),
    exclusive_columns=("account_id",),
)

ACCOUNT = EntitySpec(
    entity="account",
    label="Account",
    imports_uri="/accounts/imports",
    statement_root="account",
    fields_uri="/accounts/fields",
    standard=ACCOUNT_FIELDS,
    hidden=ACCOUNT_HIDDEN,
    identifiers=("account.field(companyidext)", "account.field(m_companyname)", "account.id"),
)
