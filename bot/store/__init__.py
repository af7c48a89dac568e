"""Persistence behind one protocol, so SQLite (default) and PostgreSQL (larger deployments) are interchangeable."""

from bot.store.base import Job, Store, UserRecord, ConversationRecord, EventClaim
from bot.store.factory import open_store

__all__ = ["Job", "Store", "UserRecord", "ConversationRecord", "EventClaim", "open_store"]
