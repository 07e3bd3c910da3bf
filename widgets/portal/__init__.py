"""The customer portal: what a subscriber does after signing up."""
