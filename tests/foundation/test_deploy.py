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


def test_the_agent_sample_configuration_loads_and_the_units_run_it() -> None:
    """Issue 21: deploy/ carries the county agent's sample configuration and its timer."""
    from exchange_hub.agent import config as agent_config

    deploy = Path(__file__).resolve().parents[2] / "deploy"
    config = agent_config.load(deploy / "agent.toml.sample")
    assert config.county == "110105" and config.signing_key_file is not None
    service = (deploy / "systemd" / "exchange-hub-agent.service").read_text()
    assert "exchange-hub-agent run --config /etc/exchange-hub-agent/agent.toml" in service
    assert "ReadWritePaths=/var/lib/exchange-hub-agent" in service
    timer = (deploy / "systemd" / "exchange-hub-agent.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer
