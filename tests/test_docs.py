"""README documents every setting, every registry key and every connector type."""

from __future__ import annotations

from pathlib import Path

import pytest

import connectors
from hub.registry import ClusterSpec
from hub.registry import SourceSpec
from hub.settings import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(
    encoding="utf-8"
)


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in README


@pytest.mark.parametrize("key", [*ClusterSpec.model_fields, *SourceSpec.model_fields])
def test_registry_key_is_documented(key: str) -> None:
    assert f"`{key}`" in README


@pytest.mark.parametrize("source_type", connectors.source_types())
def test_connector_type_is_documented(source_type: str) -> None:
    assert f"| `{source_type}`" in README
