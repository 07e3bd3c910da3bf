"""Session tokens over the tenant API (``POST /api/v1/sessions``)."""
