"""Billing actions the widgets perform in the tenant's Stripe account."""
