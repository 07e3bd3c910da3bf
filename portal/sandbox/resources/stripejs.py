"""Placeholder: routes arrive with this resource."""
