"""Typed, frozen settings loaded from YAML, with `${ENV}` interpolation and errors an operator can act on.

Every error names the file, the line and the key path (`haven.yaml:12: telegram.token: required when
telegram.enabled is true`), because an operator fixing a config at 3 a.m. should not have to guess. Secrets are
`SecretStr`: they never appear in errors, logs or `repr`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class ConfigError(Exception):
    """One or more problems in a config file; `str()` prints one `FILE:LINE: key.path: problem` per line."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key or '(top level)'}: {self.message}"


def parse_duration(value: object) -> float:
    """Seconds from `300`, `"300"`, `"5m"`, `"1.5h"`: operators write durations the way they think of them."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSettings(_Section):
    name: str = "Haven"
    default_country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    default_language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    #: Where urgent help is described when a human is unavailable: shown in the disclosure.
    staff_hours: str | None = None

    @field_validator("default_country", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class StorageSettings(_Section):
    #: SQLAlchemy-style URL; empty means `sqlite:///<data dir>/haven.sqlite3`.
    url: str = ""

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("expected sqlite:///path, sqlite:////absolute/path or postgresql://...")
        return value


class LimitSettings(_Section):
    #: Longer messages are truncated (with a notice) before anything else looks at them.
    max_message_chars: int = Field(default=8000, ge=100, le=100_000)
    #: Per-person flood control; crisis replies are never rate limited.
    messages_per_minute: int = Field(default=20, ge=1, le=1000)


class LlmSettings(_Section):
    provider: Literal["offline", "anthropic"] = "offline"
    api_key: SecretStr | None = None
    model: str = "claude-sonnet-4-6"
    base_url: str | None = None
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    max_tokens: int = Field(default=600, ge=16, le=8192)
    #: SDK retries of 429/529/5xx/network errors inside the `timeout_s` deadline.
    max_retries: int = Field(default=2, ge=0, le=5)
    #: Budget for conversation history sent with each request (~4 characters per token); older turns are summarised.
    history_tokens: int = Field(default=1500, ge=0, le=100_000)
    #: Whole deadline for the crisis second opinion; past it the deterministic assessment stands alone.
    second_opinion_timeout_s: float = Field(default=3.0, gt=0, le=30)
    #: Model for the crisis second opinion: a fast one, since it runs before the reply under that deadline.
    second_opinion_model: str = "claude-haiku-4-5"


class TelegramWebhookSettings(_Section):
    listen: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    path: str = "telegram"
    url: str | None = None
    secret_token: SecretStr | None = None
    #: Webhook POSTs Telegram may have in flight at once (setWebhook `max_connections`, 1-100).
    max_connections: int = Field(default=40, ge=1, le=100)


class TelegramSettings(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: TelegramWebhookSettings = TelegramWebhookSettings()
    staff_chat_id: int | None = None
    #: Updates of different chats handled at once (PTB `concurrent_updates`); the HTTP pool is sized to match.
    concurrency: int = Field(default=16, ge=1, le=256)


class DiscordGuildSettings(_Section):
    id: int
    monitored_channels: list[int] = []
    moderator_channel_id: int | None = None
    moderator_role_id: int | None = None
    helper_role_id: int | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    help_threads: bool = False


class DiscordSettings(_Section):
    enabled: bool = False
    token: SecretStr | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    guilds: list[DiscordGuildSettings] = []
    #: Seconds discord.py waits after the last GUILD_CREATE before it reports ready.
    guild_ready_timeout: float = Field(default=1.0, ge=0, le=60)
    #: Register the slash commands (one bulk PUT) at start. Off when another process owns the command list.
    sync_commands: bool = True
    #: `/checkon` notes one member may send per 24 hours (each recipient gets at most one a day regardless).
    checkon_per_sender_per_day: int = Field(default=3, ge=1, le=50)
    #: Shards across ALL workers (Discord's `num_shards`). Unset: one gateway connection, no sharding. Discord
    #: refuses a connection that would hold more than 2,500 servers, so large bots must shard.
    shard_count: int | None = Field(default=None, ge=1)
    #: The shards THIS worker connects (0 .. shard_count - 1). Unset with shard_count set: this worker runs all.
    shard_ids: list[int] | None = None

    @field_validator("shard_ids")
    @classmethod
    def _shards_of_this_worker(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        """Caught here, by key, rather than by Discord closing the gateway (4010 Invalid shard) after start, or
        by one shard connected twice and so answering every message in its servers twice."""
        if value is None or "shard_count" not in info.data:   # a bad shard_count is reported on its own key
            return value
        count: int | None = info.data["shard_count"]
        if count is None:
            raise ValueError("needs discord.shard_count (the total number of shards across all workers)")
        if not value:
            raise ValueError("must list at least one shard id, or be left out to run all shards")
        outside = sorted({i for i in value if not 0 <= i < count})
        if outside:
            raise ValueError(f"shard ids run from 0 to {count - 1} (discord.shard_count - 1); "
                             f"out of range: {', '.join(map(str, outside))}")
        repeated = sorted({i for i in value if value.count(i) > 1})
        if repeated:
            raise ValueError(f"each shard id may be listed once; repeated: {', '.join(map(str, repeated))}")
        return value


class SlackSettings(_Section):
    enabled: bool = False
    mode: Literal["socket", "http"] = "socket"
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    api_url: str | None = None
    listen: str = "127.0.0.1"
    #: HTTP mode only. 0 picks a free port (tests); the adapter exposes the bound one.
    port: int = Field(default=3000, ge=0, le=65535)
    #: HTTP mode only: the Request URL path configured in the Slack app (Event Subscriptions, Interactivity,
    #: Slash Commands all post here).
    path: str = Field(default="/slack/events", pattern=r"^/[A-Za-z0-9._~/-]*$")
    #: Optional free text (a phone number, a web chat URL) offered with the workspace-export note in DMs, for
    #: people who would rather not talk inside their employer's Slack.
    private_channel_hint: str | None = Field(default=None, max_length=300)


class EscalationDestination(_Section):
    platform: Literal["telegram", "discord", "slack", "console", "memory"]
    chat_id: str | None = None
    channel_id: str | None = None
    role_id: str | None = None
    channel: str | None = None

    @field_validator("chat_id", "channel_id", "role_id", "channel", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def target(self) -> str | None:
        return self.chat_id or self.channel_id or self.channel


class EscalationSettings(_Section):
    destinations: list[EscalationDestination] = []
    renotify_after: float = 300.0
    max_renotify: int = Field(default=3, ge=0, le=50)
    #: Escalate `moderate` too (many helplines do), not just `high` and `imminent`.
    escalate_moderate: bool = False
    #: At `moderate`, ask the person before involving staff.
    moderate_requires_consent: bool = True
    #: Put the person's message into the staff notice. Off by default: staff see the level and signals.
    include_message_text: bool = False

    @field_validator("renotify_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class CrisisSettings(_Section):
    escalation: EscalationSettings = EscalationSettings()


class JobSettings(_Section):
    """The durable job runner (escalation notices, re-notifications, reminders, check-ins, follow-ups)."""

    #: How long a claimed job is reserved for the worker that took it. A worker that dies holding jobs gives
    #: them back after this long, so it bounds how late a crashed worker's escalation notice can be.
    lease_s: float = Field(default=30.0, ge=1, le=3600)
    #: How often an idle runner looks for due jobs (it is also woken at once when this worker enqueues one).
    poll_s: float = Field(default=1.0, ge=0.05, le=60)

    @field_validator("lease_s", "poll_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class PrivacySettings(_Section):
    encryption_key: SecretStr | None = None
    #: The key of the pseudonymous user and conversation keys. Unset: generated once into the data dir. Several
    #: workers on one database must share it (else each would see a different person), so set it from the
    #: environment there, e.g. `${HAVEN_PSEUDONYM_SECRET}` with the output of `haven keygen`.
    pseudonym_secret: SecretStr | None = Field(default=None, min_length=32)
    retention_days: int = Field(default=30, ge=1, le=3650)


class ComplianceSettings(_Section):
    profile: list[Literal["default", "us-ny", "us-ca", "us-ut", "eu", "us-il"]] = ["default"]

    @field_validator("profile", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class AppointmentSettings(_Section):
    #: Providers YAML (see config/providers.example.yaml): a path (relative to the working directory) or a
    #: file:// URL. It is validated here too, so `haven check-config` reports its mistakes with FILE:LINE.
    providers: str | None = None
    #: Reminders before each appointment, as durations (`24h`, `1h`, `30m`); an empty list sends none.
    reminders: list[float] = [86400.0, 3600.0]
    #: The earliest time that can be booked, from now.
    min_notice: float = 7200.0
    #: How far ahead free times are offered.
    horizon_days: int = Field(default=21, ge=1, le=180)
    #: Free times shown at once, as buttons (two more buttons follow: later times, stop).
    slots_shown: int = Field(default=6, ge=1, le=6)
    #: Offer the optional intake (shared with the provider only with consent) before a first appointment.
    intake: bool = True

    @field_validator("reminders", mode="before")
    @classmethod
    def _reminders(cls, value: object) -> object:
        if not isinstance(value, list):
            raise ValueError("expected a list of durations such as [24h, 1h]")
        return sorted({parse_duration(item) for item in value}, reverse=True)

    @field_validator("min_notice", mode="before")
    @classmethod
    def _notice(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("providers")
    @classmethod
    def _providers_file(cls, value: str | None) -> str | None:
        if value:
            from bot.flows.providers import ProviderError, load_providers   # the flow owns the file's schema

            try:
                load_providers(value)
            except ProviderError as exc:
                raise ValueError(str(exc)) from None
        return value


class ResourceSettings(_Section):
    #: The operator's own services (a clinic, an EAP, a campus line): YAML files ranked first where they match.
    paths: list[str] = []


class OpsSettings(_Section):
    """Health, readiness and Prometheus metrics for whoever runs Haven. Off by default: an open port is a choice."""

    enabled: bool = False
    #: Loopback by default; metrics carry no user data, but they describe the service and should stay internal.
    host: str = "127.0.0.1"
    #: 9464 is the port the Prometheus exporter registry lists for application exporters.
    port: int = Field(default=9464, ge=1, le=65535)
    #: On SIGTERM/SIGINT, how long replies already being worked on may take before the process stops anyway.
    drain_timeout_s: float = Field(default=10.0, ge=0, le=600)

    @field_validator("drain_timeout_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class Settings(_Section):
    bot: BotSettings = BotSettings()
    storage: StorageSettings = StorageSettings()
    limits: LimitSettings = LimitSettings()
    llm: LlmSettings = LlmSettings()
    telegram: TelegramSettings = TelegramSettings()
    discord: DiscordSettings = DiscordSettings()
    slack: SlackSettings = SlackSettings()
    crisis: CrisisSettings = CrisisSettings()
    privacy: PrivacySettings = PrivacySettings()
    jobs: JobSettings = JobSettings()
    compliance: ComplianceSettings = ComplianceSettings()
    appointments: AppointmentSettings = AppointmentSettings()
    resources: ResourceSettings = ResourceSettings()
    ops: OpsSettings = OpsSettings()


def _required_when_enabled(settings: Settings) -> list[tuple[str, str]]:
    """Rules that span keys; pydantic reports per field, these need the whole section to judge."""
    problems: list[tuple[str, str]] = []
    if settings.telegram.enabled and settings.telegram.token is None:
        problems.append(("telegram.token", "required when telegram.enabled is true"))
    if settings.telegram.enabled and settings.telegram.mode == "webhook":
        if settings.telegram.webhook.secret_token is None:
            problems.append(("telegram.webhook.secret_token", "required when telegram.mode is webhook"))
        if not settings.telegram.webhook.url:
            problems.append(("telegram.webhook.url", "required when telegram.mode is webhook"))
    if settings.discord.enabled and settings.discord.token is None:
        problems.append(("discord.token", "required when discord.enabled is true"))
    if settings.slack.enabled:
        if settings.slack.bot_token is None:
            problems.append(("slack.bot_token", "required when slack.enabled is true"))
        if settings.slack.mode == "socket" and settings.slack.app_token is None:
            problems.append(("slack.app_token", "required when slack.mode is socket"))
        if settings.slack.mode == "http" and settings.slack.signing_secret is None:
            problems.append(("slack.signing_secret", "required when slack.mode is http"))
    if settings.llm.provider == "anthropic" and settings.llm.api_key is None:
        problems.append(("llm.api_key", "required when llm.provider is anthropic"))
    for index, destination in enumerate(settings.crisis.escalation.destinations):
        if destination.target is None:
            problems.append((f"crisis.escalation.destinations.{index}",
                             "needs chat_id (telegram), channel_id (discord) or channel (slack)"))
    return problems


class _LineIndex:
    """Maps key paths to the line they were written on, so errors can point at the line to edit."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, ...], int] = {}

    def walk(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                result[key] = self.walk(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, path + (str(i),)) for i, item in enumerate(node.value)]
        return _scalar(node)

    def line_for(self, path: tuple[str, ...]) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def _scalar(node: yaml.Node) -> Any:
    """Resolve a scalar with the safe loader's rules (ints, bools, nulls, dates stay what YAML says)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _interpolate(value: Any, path: tuple[str, ...], env: dict[str, str],
                 missing: list[tuple[str, ...]]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, path + (k,), env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path + (str(i),), env, missing) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        missing.append(path + (name,))
        return ""

    result = _ENV_REF.sub(substitute, value)
    return None if result == "" and _ENV_REF.fullmatch(value) else result


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from a YAML file, or the embedded defaults when `path` is None. Raises ConfigError."""
    if path is None:
        return Settings()
    file = Path(path)
    env = dict(os.environ) if env is None else env
    name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(name, 1, "", f"cannot read the file: {exc.__class__.__name__}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError([ConfigProblem(name, line, "", f"not valid YAML: {problem}")]) from None
    index = _LineIndex()
    raw: Any = {} if root is None else index.walk(root, ())
    if not isinstance(raw, dict):
        raise ConfigError([ConfigProblem(name, 1, "", "the file must be a mapping of sections (bot:, llm:, ...)")])
    missing: list[tuple[str, ...]] = []
    data = _interpolate(raw, (), env, missing)
    problems = [ConfigProblem(name, index.line_for(p[:-1]), ".".join(p[:-1]),
                              f"environment variable {p[-1]} is not set") for p in missing]
    if problems:
        raise ConfigError(problems)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            loc = tuple(str(part) for part in error["loc"])
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            message = message.removeprefix("Value error, ")
            problems.append(ConfigProblem(name, index.line_for(loc), ".".join(loc), message))
        raise ConfigError(problems) from None
    cross = _required_when_enabled(settings)
    if cross:
        raise ConfigError([ConfigProblem(name, index.line_for(tuple(k.split("."))), k, m) for k, m in cross])
    return settings
