"""`make faults`: the fault matrix. See faults/__main__.py."""
