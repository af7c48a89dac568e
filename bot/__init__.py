"""Haven: a safety-first mental-health support bot (peer and wellbeing support, never therapy)."""

__version__ = "0.1.0"
