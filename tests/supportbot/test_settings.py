"""Settings: SUPPORTBOT_ prefix, .env support, defaults and validation in one place."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from supportbot.settings import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPORTBOT_HOME", raising=False)  # the test session points it at a temporary folder
    settings = Settings()
    assert settings.home == Path(".supportbot")
    assert settings.resolved_index_dir == Path(".supportbot/index")
    assert settings.mode == "rag" and settings.generator == "extractive"


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SUPPORTBOT_MODE", "hybrid")
    monkeypatch.setenv("SUPPORTBOT_CORS_ORIGINS", '["http://localhost:8501"]')
    settings = Settings()
    assert settings.home == tmp_path / "home"
    assert settings.resolved_index_dir == tmp_path / "home" / "index"
    assert settings.mode == "hybrid"
    assert settings.cors_origins == ["http://localhost:8501"]


def test_dotenv_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SUPPORTBOT_EMBEDDER=/models/student\nSUPPORTBOT_GENERATOR=hf\n", encoding="utf-8")
    settings = Settings()
    assert settings.embedder == "/models/student" and settings.generator == "hf"


@pytest.mark.parametrize(
    ("name", "value"),
    [("SUPPORTBOT_MODE", "telepathy"), ("SUPPORTBOT_RATE_LIMIT_PER_MINUTE", "0"), ("SUPPORTBOT_GENERATOR", "gpt")],
)
def test_invalid_values_are_rejected_with_the_field_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name.removeprefix("SUPPORTBOT_").lower() in str(info.value)


def test_home_must_not_be_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "afile"))
    with pytest.raises(ValidationError, match="not a directory"):
        Settings()
