"""Billing pages: a configured widget of a tenant (``bpg_…``), picked with data-billing-page."""
