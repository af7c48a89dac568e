"""Helpline and service directory: load, validate, search, lint.

Public surface (everything else is private to the package)::

    from bot.resources import ResourceDirectory, Resource, Contact, ResourceError, default_directory_paths

    directory = ResourceDirectory.load()                     # config/resources/directory/*.yaml
    directory.crisis_lines("GB", lang="en")                  # for the crisis reply
    directory.search(country="US", topic="veterans", lang="es", open_at=now, limit=5)
    [r.format_line() for r in ...]; r.to_dict()              # chat text / --json

Errors: :class:`ResourceError` (a ``ValueError``) for any invalid directory file, with ``file``,
``line``, ``keypath`` and ``message``; its ``str()`` is ``FILE:LINE: key.path: message``.
Data lint (numbers valid for their country, superseded numbers, https sources, dates) lives in
``bot.resources.lint``.
"""

from bot.resources.hours import Hours
from bot.resources.model import Contact, Resource, ResourceError
from bot.resources.search import ResourceDirectory, default_directory_paths

__all__ = ["Contact", "Hours", "Resource", "ResourceDirectory", "ResourceError", "default_directory_paths"]
