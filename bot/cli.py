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


@main.command()
def keygen() -> None:
    """Print a new privacy.encryption_key (32 random bytes, URL-safe base64). Keep it in an env var."""
    from bot.privacy import generate_key

    click.echo(generate_key())


if __name__ == "__main__":
    main()
