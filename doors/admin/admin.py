"""Django's admin autodiscovery imports this module: every model admin lives in `registry`, one
module per layer or entity, so that no package below the doors imports the admin."""

from doors.admin.registry import batches, contacts, kernel, linkage, opportunities, syncs  # noqa: F401
