from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self) -> None:
        from bulkapi.catalog import register
        from syncs.processors import register_processor

        from . import sql
        from .catalog import ACCOUNT, CONTACT

        register(CONTACT)
        register(ACCOUNT)
        # looked up at call time, so tests can wrap sql.process_chunk
        register_processor(
            CONTACT.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, target=sql.CONTACT_TARGET, **kw),
            finish_logs=sql.finish_logs(("ELQ-00004", "Contacts created."), ("ELQ-00022", "Contacts updated.")),
        )
        register_processor(
            ACCOUNT.entity,
            lambda cursor, **kw: sql.process_chunk(cursor, target=sql.ACCOUNT_TARGET, **kw),
            finish_logs=sql.finish_logs(("ELQ-00005", "Accounts created."), ("ELQ-00023", "Accounts updated.")),
        )
