"""Crisis handling: detection (deterministic tiers), rolling risk, the deterministic reply, and escalation."""
