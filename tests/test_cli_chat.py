"""`haven chat` as a person uses it: a real subprocess, piped stdin, reading what the terminal shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROMPT = "you> "


def run_chat(tmp_path: Path, lines: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAVEN_HOME": str(tmp_path / "home"), "PYTHONIOENCODING": "utf-8"}
    env.pop("ANTHROPIC_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "bot", "chat"], input="".join(f"{l}\n" for l in lines),
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_chat_session_end_to_end(tmp_path: Path) -> None:
    result = run_chat(tmp_path, ["1", "I've had a rough week at work", "I want to kill myself", "1", "/forget", "1"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # Disclosure first, with the consent buttons as numbered lines.
    disclosure_end = out.index(PROMPT)
    assert "AI support bot" in out[:disclosure_end] and "[1] I agree" in out[:disclosure_end]
    turns = out.split(PROMPT)
    assert "Thank you" in turns[1]                                   # pressed [1] I agree
    assert turns[2].strip().endswith("?")                             # supportive reply with an open question
    assert "Are you safe right now?" in turns[3] and "988" in turns[3]
    assert "[1] I'm safe right now" in turns[3]
    assert "I'm glad you're safe" in turns[4]                         # typed 1 pressed that button
    assert "[1] Yes, erase everything" in turns[5]
    assert "erased" in turns[6]
    # Nothing the person wrote reached the logs.
    assert "rough week" not in result.stderr and "kill myself" not in result.stderr


def test_chat_end_of_input_exits_zero_and_python_m_bot_is_the_same(tmp_path: Path) -> None:
    result = run_chat(tmp_path, [])
    assert result.returncode == 0
    assert result.stdout.count(PROMPT) == 1


def test_quit_command(tmp_path: Path) -> None:
    result = run_chat(tmp_path, ["/quit", "never read"])
    assert result.returncode == 0 and "Take care" in result.stdout


def test_classify_jsonl_and_plain_lines(tmp_path: Path) -> None:
    rows = [json.dumps({"text": "I want to kill myself"}), "this exam is killing me", "",
            json.dumps({"text": "quiero morirme", "lang": "es"}), "{not json"]
    result = subprocess.run([sys.executable, "-m", "bot", "classify", "-"], input="\n".join(rows) + "\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(rows)
    assert out[0]["escalate"] is True and out[0]["risk"] in {"moderate", "high", "imminent"}
    assert out[1]["escalate"] is False
    assert out[2]["risk"] == "none"
    assert out[3]["escalate"] is True
    assert all(set(o) >= {"risk", "escalate", "signals"} for o in out)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["chat", "--help"], ["run", "--help"]])
def test_help_and_version(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout


def test_ctrl_c_exits_cleanly(tmp_path: Path) -> None:
    import select
    import signal

    env = {**os.environ, "HAVEN_HOME": str(tmp_path / "home"), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "chat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    seen = b""
    deadline = 60.0
    while PROMPT.encode() not in seen and deadline > 0:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        deadline -= 0.5
        if ready:
            seen += os.read(proc.stdout.fileno(), 4096)   # type: ignore[union-attr]
    assert PROMPT.encode() in seen, "the chat never showed its prompt"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert b"Take care" in out
