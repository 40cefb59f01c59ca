"""The operator's files stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from exchange_hub.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_every_setting_is_explained_in_the_sample() -> None:
    sample = (DEPLOY / "hub.env.sample").read_text(encoding="utf-8")
    documented = {line.split("=", 1)[0] for line in sample.splitlines() if line.startswith("HUB_")}
    expected = {f"HUB_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from deploy/hub.env.sample"
    assert documented - expected == set(), "deploy/hub.env.sample names settings that do not exist"


def test_the_sample_parses_as_settings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for line in (DEPLOY / "hub.env.sample").read_text(encoding="utf-8").splitlines():
        if line.startswith("HUB_"):
            key, value = line.split("=", 1)
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.generate_dev_keys is False and settings.secure_cookies is True
    assert settings.push_allowed_hosts == ["padis.gd.example", "rkjs.bj.example"]
