"""The operator's files stay in step with the code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

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


def _cluster_env(tmp_path: Path) -> dict[str, str]:
    """What ``deploy/cluster.sh env`` prints (it needs no running cluster for that)."""
    done = subprocess.run(
        ["bash", str(DEPLOY / "cluster.sh"), "env"], capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "CLUSTER_DIR": str(tmp_path / "cluster")},  # defaults
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line.removeprefix("export ") for line in done.stdout.splitlines()]
    return dict(line.split("=", 1) for line in lines)


def test_compose_and_the_bare_machine_script_have_one_topology(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"primary", "replica", "pgbouncer", "redis", "migrate", "api",
                             "worker", "nginx"}  # fmt: skip
    hub_env = compose["x-hub"]["environment"]
    script_env = _cluster_env(tmp_path)
    assert {n for n in hub_env if n.startswith("HUB_")} <= set(script_env)
    for name in ("HUB_DATABASE_POOLER", "HUB_GENERATE_DEV_KEYS"):
        assert hub_env[name] == script_env[name]  # transaction pooling, one key ring
    # Both take the same server settings from deploy/postgres and deploy/pgbouncer.
    script = (DEPLOY / "cluster.sh").read_text(encoding="utf-8")
    pgbouncer_image = (DEPLOY / "pgbouncer" / "Dockerfile").read_text(encoding="utf-8")
    mounted = " ".join(v for s in services.values() for v in s.get("volumes", []))
    for shared in ("postgres/primary.conf", "postgres/replica.conf"):
        assert f"$DEPLOY/{shared}" in script and f"./{shared}" in mounted
    assert "$DEPLOY/pgbouncer/pgbouncer.ini" in script
    assert "deploy/pgbouncer/pgbouncer.ini" in pgbouncer_image
    assert "pool_mode = transaction" in (DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text()


def test_the_scripts_read_their_ports_from_cluster_env(tmp_path: Path) -> None:
    env = _cluster_env(tmp_path)
    assert env["HUB_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:56432/hub"  # PgBouncer
    assert env["HUB_DIRECT_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:55432/hub"
    assert env["HUB_READ_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:55433/hub"
    assert env["CLUSTER_URL"] == "http://127.0.0.1:58080"
