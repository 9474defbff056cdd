from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "entities.contacts"
    label = "contacts"

    def ready(self) -> None:
        from entities.contacts import sql
        from entities.contacts.catalog import ACCOUNT, CONTACT
        from entities.contacts.models import Account, Contact
        from pipeline.catalog import register
        from pipeline.codes import Code
        from pipeline.processors import register_processor, register_statistics

        register(CONTACT)
        register(ACCOUNT)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            CONTACT.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, target=sql.CONTACT_TARGET, **kw),
            finish_logs=sql.finish_logs(Code.CONTACTS_CREATED.pair, Code.CONTACTS_UPDATED.pair),
            records=Contact._meta.db_table,
        )
        register_processor(
            ACCOUNT.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, target=sql.ACCOUNT_TARGET, **kw),
            finish_logs=sql.finish_logs(Code.ACCOUNTS_CREATED.pair, Code.ACCOUNTS_UPDATED.pair),
            records=Account._meta.db_table,
        )
        register_statistics(
            Contact._meta.db_table, ("id", "site_id", "email", "phone", "visitor_id", "external_id", "account_id")
        )
        register_statistics(Account._meta.db_table, ("id", "site_id", "name", "domain", "external_id"))
