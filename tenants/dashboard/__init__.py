"""The tenant admin dashboard at /dashboard/: accounts, team, settings, pages, callbacks."""
