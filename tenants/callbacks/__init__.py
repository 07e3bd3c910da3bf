"""The tenant API over callback deliveries: list, retry, replay."""
