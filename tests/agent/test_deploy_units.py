"""deploy/ carries the county agent's sample configuration and its systemd units (issue 21)."""

from __future__ import annotations

from pathlib import Path


def test_the_agent_sample_configuration_loads_and_the_units_run_it() -> None:
    from exchange_hub.agent import config as agent_config

    deploy = Path(__file__).resolve().parents[2] / "deploy"
    config = agent_config.load(deploy / "agent.toml.sample")
    assert config.county == "110105" and config.signing_key_file is not None
    assert config.acknowledge  # pulled notifications acknowledged unless a county opts out
    service = (deploy / "systemd" / "exchange-hub-agent.service").read_text()
    assert "exchange-hub-agent run --config /etc/exchange-hub-agent/agent.toml" in service
    assert "ReadWritePaths=/var/lib/exchange-hub-agent" in service
    timer = (deploy / "systemd" / "exchange-hub-agent.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer
