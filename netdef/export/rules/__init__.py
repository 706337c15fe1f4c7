"""Export rules per family; see netdef/export/registry.py and base.py."""
