"""The `haven` command (and `python -m bot`). Click: stable, small, composable subcommands, `--help` everywhere.

Subcommands are thin: they parse options, load config, and call into the app; none holds business logic.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

import click

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.paths import data_dir as resolve_data_dir

CONFIG_OPTION = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                             help="YAML config file; omitted means the embedded defaults.")
DATA_DIR_OPTION = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                               help="Where Haven keeps its database and secrets (default: $HAVEN_HOME or the "
                                    "platform's user data dir).")


def _settings(config_file: Path | None) -> Settings:
    try:
        return load_settings(config_file)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="haven")
def main() -> None:
    """Haven: a safety-first mental-health support bot. It is an AI, not a clinician or crisis service."""


@main.command()
@CONFIG_OPTION
@DATA_DIR_OPTION
@click.option("--log-level", default="WARNING", show_default=True, help="Logs go to stderr.")
def chat(config_file: Path | None, data_dir: Path | None, log_level: str) -> None:
    """Talk to Haven in this terminal (offline responder and SQLite unless the config says otherwise)."""
    try:
        from bot import logs
        from bot.app import run_chat

        logs.configure(log_level)
        settings = _settings(config_file)
        try:
            sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
        status = asyncio.run(run_chat(settings, resolve_data_dir(data_dir)))
    except KeyboardInterrupt:   # Ctrl-C at any moment, even while starting, leaves calmly
        click.echo("\nTake care. You can come back any time.")
        status = 0
    sys.exit(status)


@main.command()
@CONFIG_OPTION
@DATA_DIR_OPTION
@click.option("--adapter", "adapters", multiple=True, type=click.Choice(["telegram", "discord", "slack"]),
              help="Run only these adapters (repeatable); default: every adapter enabled in the config.")
@click.option("--log-level", default="INFO", show_default=True)
def run(config_file: Path | None, data_dir: Path | None, adapters: tuple[str, ...], log_level: str) -> None:
    """Run the platform adapters until SIGINT/SIGTERM, then drain and exit."""
    from bot import logs
    from bot.app import run_adapters

    logs.configure(log_level)
    settings = _settings(config_file)
    sys.exit(asyncio.run(run_adapters(settings, resolve_data_dir(data_dir), list(adapters))))


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def check_config(file: Path) -> None:
    """Validate FILE: exit 0 when valid, else print FILE:LINE: key.path: problem and exit 2."""
    _settings(file)
    click.echo(f"{file}: OK")


@main.command()
@click.argument("source", type=click.File("r", encoding="utf-8", errors="replace"), default="-")
def classify(source: TextIO) -> None:
    """Crisis-classify JSONL (`{"text": ..., "lang"?: ...}`) or plain lines; one JSON result per input line."""
    from bot.crisis.detect import assess

    out = sys.stdout
    for line in source:
        line = line.rstrip("\r\n")
        text, lang = line, None
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("text"), str):
                text = row["text"]
                lang = row.get("lang") if isinstance(row.get("lang"), str) else None
        out.write(json.dumps(assess(text, lang).as_dict(), ensure_ascii=False) + "\n")
    out.flush()


@main.command()
@CONFIG_OPTION
@click.option("--country", help="ISO 3166-1 alpha-2 code, e.g. GB.")
@click.option("--topic", help="e.g. suicide, youth, lgbtq, domestic_violence.")
@click.option("--lang", help="ISO 639-1 language code, e.g. en.")
@click.option("--kind", help="crisis_line, text_line, chat, warmline, emergency, service, eap, directory.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--stale", is_flag=True, help="Instead, list entries due for re-verification (exit 1 if any).")
@click.option("--max-age", "max_age", type=int, default=365, show_default=True, metavar="DAYS",
              help="With --stale: entries verified longer ago than this are stale.")
def resources(config_file: Path | None, country: str | None, topic: str | None, lang: str | None,
              kind: str | None, as_json: bool, stale: bool, max_age: int) -> None:
    """Look up helplines and services from the reviewed directory."""
    from bot.app import load_directory

    directory = load_directory(_settings(config_file))
    if stale:
        stale_entries = directory.stale(max_age_days=max_age, today=date.today())
        for entry in stale_entries:
            click.echo(f"{entry.id}: verified {entry.verified_at.isoformat()} ({entry.source})")
        click.echo(f"{len(stale_entries)} of {len(directory)} entries verified more than {max_age} days ago.")
        sys.exit(1 if stale_entries else 0)
    if not country:
        raise click.UsageError("--country is required (or use --stale)")
    found = directory.search(country=country.upper(), topic=topic, lang=lang, kind=kind)
    if as_json:
        click.echo(json.dumps([entry.to_dict() for entry in found], ensure_ascii=False, indent=2, default=str))
        return
    if not found:
        click.echo(f"No entries for {country.upper()}.")
        return
    for entry in found:
        click.echo(f"- {entry.format_line()}")


def _admin_store(config_file: Path | None, data_dir: Path | None):  # type: ignore[no-untyped-def]
    """The configured store and pseudonymiser, for admin commands run beside (or instead of) the bot."""
    from bot.app import pseudonym_secret
    from bot.privacy import FieldCipher, Pseudonymizer
    from bot.store.factory import open_store

    settings = _settings(config_file)
    home = resolve_data_dir(data_dir)
    key = settings.privacy.encryption_key
    store = open_store(settings.storage.url, home, FieldCipher(key.get_secret_value() if key else None))
    return settings, store, Pseudonymizer(pseudonym_secret(settings, home))


def _user_key(ids, user: str) -> str:  # type: ignore[no-untyped-def]
    platform, sep, user_id = user.partition(":")
    if not sep or not user_id:
        raise click.BadParameter("use PLATFORM:USER_ID, e.g. telegram:123456789", param_hint="--user")
    return ids.user_key(platform, user_id)


USER_OPTION = click.option("--user", required=True, metavar="PLATFORM:USER_ID",
                           help="The person's platform and platform user id (hashed before any lookup).")


@main.command()
@CONFIG_OPTION
@DATA_DIR_OPTION
@USER_OPTION
def export(config_file: Path | None, data_dir: Path | None, user: str) -> None:
    """Print everything stored about one person as JSON (a data access request)."""

    async def go() -> dict:  # type: ignore[type-arg]
        _, store, ids = _admin_store(config_file, data_dir)
        await store.open()
        try:
            return await store.export_user(_user_key(ids, user))
        finally:
            await store.close()

    click.echo(json.dumps(asyncio.run(go()), ensure_ascii=False, indent=2, default=str))


@main.command()
@CONFIG_OPTION
@DATA_DIR_OPTION
@USER_OPTION
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(config_file: Path | None, data_dir: Path | None, user: str, yes: bool) -> None:
    """Erase everything stored about one person (rows deleted, secure_delete on); counters stay."""
    if not yes:
        click.confirm(f"Erase everything stored about {user.split(':', 1)[0]} user? This cannot be undone", abort=True)

    async def go() -> None:
        from datetime import datetime, timezone

        _, store, ids = _admin_store(config_file, data_dir)
        await store.open()
        try:
            await store.erase_user(_user_key(ids, user))
            await store.audit("admin_erase", datetime.now(timezone.utc), None, {})
        finally:
            await store.close()

    asyncio.run(go())
    click.echo("Erased.")


@main.command("rotate-key")
@CONFIG_OPTION
@DATA_DIR_OPTION
@click.option("--new-key-env", default="HAVEN_NEW_ENCRYPTION_KEY", show_default=True,
              help="Environment variable holding the new key (from `haven keygen`); never pass keys as arguments.")
def rotate_key(config_file: Path | None, data_dir: Path | None, new_key_env: str) -> None:
    """Re-encrypt stored text under a new key; then put the new key in privacy.encryption_key and restart."""
    import os

    from bot.privacy import EncryptionKeyError, FieldCipher

    new_key = os.environ.get(new_key_env)
    if not new_key:
        raise click.UsageError(f"set {new_key_env} to the new key (haven keygen)")
    try:
        new_cipher = FieldCipher(new_key)
    except EncryptionKeyError as exc:
        raise click.UsageError(str(exc)) from None

    async def go() -> int:
        _, store, _ = _admin_store(config_file, data_dir)
        await store.open()
        try:
            return await store.rotate_key(new_cipher)
        finally:
            await store.close()

    click.echo(f"Re-encrypted {asyncio.run(go())} fields. Now set privacy.encryption_key to the new key.")


@main.command()
@CONFIG_OPTION
@DATA_DIR_OPTION
@click.option("--year", type=int, required=True)
@click.option("--json", "as_json", is_flag=True)
def report(config_file: Path | None, data_dir: Path | None, year: int, as_json: bool) -> None:
    """Counts for an annual report (California SB 243): crisis referral notices by level. Nothing identifying."""

    async def go() -> list[tuple[str, str, str, int]]:
        _, store, _ = _admin_store(config_file, data_dir)
        await store.open()
        try:
            return [row for name in ("crisis_referral", "escalation") for row in await store.counters(name)
                    if row[1].startswith(f"{year}-")]
        finally:
            await store.close()

    rows = asyncio.run(go())
    summary: dict[str, dict[str, int]] = {"crisis_referral": {}, "escalation": {}}
    for name, _, dims, count in rows:
        level = dict(part.split("=", 1) for part in dims.split(";") if "=" in part).get("level", "unknown")
        summary[name][level] = summary[name].get(level, 0) + count
    if as_json:
        click.echo(json.dumps({"year": year, **summary}, indent=2))
        return
    click.echo(f"Haven report for {year}")
    click.echo(f"Crisis referral notices issued: {sum(summary['crisis_referral'].values())}")
    for level in ("low", "moderate", "high", "imminent"):
        if level in summary["crisis_referral"]:
            click.echo(f"  {level}: {summary['crisis_referral'][level]}")
    click.echo(f"Escalations to human staff: {sum(summary['escalation'].values())}")


@main.command()
@CONFIG_OPTION
def protocol(config_file: Path | None) -> None:
    """Print the live crisis protocol (tiers, levels, actions, escalation routes, retention) as Markdown."""
    from bot.protocol import render_protocol

    click.echo(render_protocol(_settings(config_file)))


@main.command()
@CONFIG_OPTION
@DATA_DIR_OPTION
@click.option("--provider", "provider_id", required=True, help="Provider id from appointments.providers.")
@click.option("--day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="YYYY-MM-DD in the provider's time zone (default: today there).")
def appointments(config_file: Path | None, data_dir: Path | None, provider_id: str, day: object) -> None:
    """List one provider's booked appointments for a day: booking references, names only where shared."""
    from datetime import datetime

    from bot.flows.appointments_manage import day_sheet
    from bot.flows.appointments_store import AppointmentStore
    from bot.flows.providers import load_providers

    settings, store, _ = _admin_store(config_file, data_dir)
    if not settings.appointments.providers:
        raise click.UsageError("appointments.providers is not set in the config")
    providers = {p.id: p for p in load_providers(settings.appointments.providers)}
    provider = providers.get(provider_id)
    if provider is None:
        raise click.BadParameter(f"unknown provider (known: {', '.join(sorted(providers))})", param_hint="--provider")
    local_day = day.date() if isinstance(day, datetime) else datetime.now(provider.zone).date()

    async def go() -> list[str]:
        await store.open()
        try:
            return await day_sheet(AppointmentStore(store), provider, local_day)
        finally:
            await store.close()

    click.echo("\n".join(asyncio.run(go())))


@main.command()
def keygen() -> None:
    """Print a new privacy.encryption_key (32 random bytes, URL-safe base64). Keep it in an env var."""
    from bot.privacy import generate_key

    click.echo(generate_key())


if __name__ == "__main__":
    main()
