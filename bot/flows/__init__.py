"""Guided flows and commands: consent, /help, /resources, /forget, and later safety plans and check-ins."""
