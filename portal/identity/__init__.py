"""Who a widget acts for: user tokens, session tokens, the legacy hash and widget sessions."""
