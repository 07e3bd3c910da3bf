"""Every module here registers its routes on import."""

from . import (
    control,
    coupons,
    customers,
    events,
    invoices,
    meters,
    payment_intents,
    payment_methods,
    prices,
    products,
    setup_intents,
    stripejs,
    subscription_items,
    subscriptions,
    webhook_endpoints,
)

__all__ = [
    "control",
    "coupons",
    "customers",
    "events",
    "invoices",
    "meters",
    "payment_intents",
    "payment_methods",
    "prices",
    "products",
    "setup_intents",
    "stripejs",
    "subscription_items",
    "subscriptions",
    "webhook_endpoints",
]
