"""Responders: Claude through the anthropic SDK, or the offline responder when no key is configured."""
