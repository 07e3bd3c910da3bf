"""``billport demo``: the sandbox, the portal and a sample SaaS site, seeded, in one command."""
