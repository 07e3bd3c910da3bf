"""The tenant's products and prices, cached so that showing plans never waits on Stripe."""
