"""The customer portal's API routes, mounted by ``widgets.routes``."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from .details import BillingDetailsController
from .invoices import InvoicesController
from .payments import PaymentMethodsController

PORTAL_ROUTES: list[ControllerRouterHandler] = [
    PaymentMethodsController,
    InvoicesController,
    BillingDetailsController,
]
