"""Config errors name file, line and key; one test per kind of mistake an operator makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, load_settings, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "haven.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env or {})
    return [str(p) for p in caught.value.problems]


def test_embedded_defaults_need_no_file() -> None:
    settings = load_settings(None)
    assert settings.llm.provider == "offline"
    assert settings.bot.default_country == "US"


def test_unknown_key_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bot:\n  name: Haven\n  colour: blue\n")
    assert problems(path) == [f"{path}:3: bot.colour: unknown key"]


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "limits:\n  messages_per_minute: lots\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:2: limits.messages_per_minute: ")


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  provider: offline\n  timeout_s: -3\n")
    assert problems(path) == [f"{path}:3: llm.timeout_s: Input should be greater than 0"]


def test_invalid_choice(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  mode: carrier-pigeon\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:2: telegram.mode: Input should be 'polling' or 'webhook'")


def test_required_when_enabled(tmp_path: Path) -> None:
    path = write(tmp_path, "bot:\n  name: Haven\ntelegram:\n  enabled: true\n")
    assert problems(path) == [f"{path}:3: telegram.token: required when telegram.enabled is true"]


def test_missing_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  enabled: true\n  token: ${HAVEN_TG_TOKEN}\n")
    assert problems(path) == [f"{path}:3: telegram.token: environment variable HAVEN_TG_TOKEN is not set"]


def test_environment_interpolation_and_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  enabled: true\n  token: ${TOKEN}\nbot:\n  name: ${NAME:-Haven Test}\n")
    settings = load_settings(path, env={"TOKEN": "123:abc"})
    assert settings.telegram.token is not None and settings.telegram.token.get_secret_value() == "123:abc"
    assert settings.bot.name == "Haven Test"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bot:\n  name: Haven\n   broken: [\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:3: (top level): not valid YAML")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    assert "must be a mapping" in problems(path)[0]


def test_bad_destination_in_list(tmp_path: Path) -> None:
    path = write(tmp_path, "crisis:\n  escalation:\n    destinations:\n      - {platform: telegram, chat_id: -100}\n"
                           "      - {platform: slack}\n")
    assert problems(path) == [f"{path}:5: crisis.escalation.destinations.1: "
                              "needs chat_id (telegram), channel_id (discord) or channel (slack)"]


def test_durations_are_human(tmp_path: Path) -> None:
    path = write(tmp_path, "crisis:\n  escalation:\n    renotify_after: 5m\n")
    assert load_settings(path, env={}).crisis.escalation.renotify_after == 300.0
    assert parse_duration("1.5h") == 5400.0
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_secrets_never_printed(tmp_path: Path) -> None:
    secret = "999999:SUPER-SECRET-VALUE"
    path = write(tmp_path, f"telegram:\n  enabled: true\n  token: ${{T}}\n  mode: webhook\n")
    messages = problems(path, env={"T": secret})
    assert messages and all(secret not in m for m in messages)
    settings = load_settings(write(tmp_path, "telegram:\n  enabled: true\n  token: ${T}\n"), env={"T": secret})
    assert secret not in repr(settings) and secret not in str(settings.model_dump())


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "haven.example.yaml"
    env = {"TELEGRAM_BOT_TOKEN": "1:x", "DISCORD_BOT_TOKEN": "x", "SLACK_BOT_TOKEN": "xoxb-x",
           "SLACK_APP_TOKEN": "xapp-x", "SLACK_SIGNING_SECRET": "s", "ANTHROPIC_API_KEY": "k",
           "HAVEN_ENCRYPTION_KEY": "A" * 43 + "=", "TELEGRAM_WEBHOOK_SECRET": "s"}
    load_settings(example, env=env)


def test_check_config_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    good = write(tmp_path, "bot:\n  name: Haven\n")
    result = runner.invoke(main, ["check-config", str(good)])
    assert result.exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("bot:\n  nmae: Haven\n", encoding="utf-8")
    result = runner.invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: bot.nmae: unknown key" in result.output
