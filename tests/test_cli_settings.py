"""Commands that need no app still read the settings as the app does: environment
over the settings file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_clusters_check_reads_the_registry_named_in_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "ecoop.env"
    settings.write_text(f"ECOOP_REGISTRY={ROOT / 'config' / 'demo.yaml'}\n")
    monkeypatch.delenv("ECOOP_REGISTRY", raising=False)
    monkeypatch.setenv("ECOOP_SETTINGS_FILE", str(settings))
    result = CliRunner().invoke(main, ["clusters", "check"])
    assert result.exit_code == 0, result.output
    assert "127.0.0.1" in result.output  # the demo overlay's URLs, not clusters.yaml's
