"""The `ops` config section: defaults, durations, and errors that name file, line and key like every other key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings


def test_defaults_keep_the_ops_server_off_and_on_loopback() -> None:
    ops = Settings().ops
    assert (ops.enabled, ops.host, ops.port, ops.drain_timeout_s) == (False, "127.0.0.1", 9464, 10.0)


def test_keys_load_from_yaml_with_durations(tmp_path: Path) -> None:
    file = tmp_path / "haven.yaml"
    file.write_text("ops:\n  enabled: true\n  host: 0.0.0.0\n  port: 9100\n  drain_timeout_s: 1m\n", encoding="utf-8")
    ops = load_settings(file).ops
    assert (ops.enabled, ops.host, ops.port, ops.drain_timeout_s) == (True, "0.0.0.0", 9100, 60.0)


@pytest.mark.parametrize(("body", "expected"), [
    ("ops:\n  enabled: true\n  port: 0\n", "haven.yaml:3: ops.port: Input should be greater than or equal to 1"),
    ("ops:\n  port: 70000\n", "haven.yaml:2: ops.port: Input should be less than or equal to 65535"),
    ("ops:\n  enabled: true\n  metrics_path: /m\n", "haven.yaml:3: ops.metrics_path: unknown key"),
    ("ops:\n  drain_timeout_s: soon\n", "haven.yaml:2: ops.drain_timeout_s: expected a duration such as 30s, 5m or 1h"),
])
def test_mistakes_name_file_line_and_key(tmp_path: Path, body: str, expected: str) -> None:
    file = tmp_path / "haven.yaml"
    file.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(file)
    assert str(caught.value).replace(str(tmp_path) + "/", "") == expected


def test_the_example_config_documents_every_ops_key() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "haven.example.yaml"
    settings = load_settings(example, env={})
    assert settings.ops == Settings().ops
    text = example.read_text(encoding="utf-8")
    assert all(f"  {key}:" in text for key in ("enabled", "host", "port", "drain_timeout_s"))
