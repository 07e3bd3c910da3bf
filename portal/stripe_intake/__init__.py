"""Stripe webhook intake: events stored once on arrival, processed later by the worker."""
