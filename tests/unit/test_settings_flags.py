"""``run``'s flags and environment variables come from the settings models, one each."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from bolna_sip_operator import cli
from bolna_sip_operator.config import (
    ENV_PREFIX,
    SETTING_GROUPS,
    OperatorSettings,
    ProcessSettings,
)
from bolna_sip_operator.flags import Setting, SettingsError, read_settings, settings_of

MODELS: tuple[type[BaseModel], ...] = (OperatorSettings, ProcessSettings)
SETTINGS = [s for model in MODELS for s in settings_of(model, ENV_PREFIX)]
MODEL_OF = {s.name: model for model in MODELS for s in settings_of(model, ENV_PREFIX)}

# Flags and variables that charts, scripts and people already use (before the settings
# models generated them): they must keep working.
ESTABLISHED_FLAGS = {
    "--bolna-url", "--token-file", "--drift-interval", "--request-timeout", "--rate-limit",
    "--namespace", "--kubeconfig", "--health-port", "--health-host", "--kamailio-rpc",
    "--dispatcher-file", "--address-file", "--reload-delta", "--health-interval",
    "--probe-settle", "--kamailio-service", "--kamailio-rpc-port", "--lists-configmap",
    "--propagation-timeout", "--peering", "--priority", "--metrics-port", "--debug"}
ESTABLISHED_VARIABLES = {"BOLNA_SIP_" + flag[2:].upper().replace("-", "_")
                         for flag in ESTABLISHED_FLAGS - {"--namespace"}}

# Settings that only validate together with another (the model's cross-field rules).
COMPANIONS: dict[str, list[str]] = {
    "kamailio_rpc": ["--dispatcher-file", "/tmp/d.list", "--address-file", "/tmp/a.list"],
    "kamailio_service": ["--lists-configmap", "sip/lists"],
    "edge_agents": ["--lists-configmap", "sip/lists"],
    "list_shards": ["--lists-configmap", "sip/lists", "--edge-agents"],
}
# Integers with a narrower range than the generic sample's.
SMALL_INTS = {"list_shards"}
# Strings of a shape of their own, and choices: a sample per variant.
SAMPLES: dict[str, list[list[str]]] = {
    "dns_server": [["127.0.0.1:5353", "[::1]:53"], ["192.0.2.53"]],
    "dns_family": [["ipv4"], ["ipv6"]],
}

TOKEN = "tok-very-secret-7f3a"


def sample(setting: Setting, variant: int = 0) -> list[str]:
    """Values, unlike the default, that the setting's type and constraints accept."""
    if setting.name in SAMPLES:
        return SAMPLES[setting.name][variant]
    if setting.item is float:
        return [f"{7.5 + variant}"]
    if setting.item is int:
        return [f"{8 + variant}" if setting.name in SMALL_INTS else f"{4242 + variant}"]
    if setting.item is Path:
        return [f"/tmp/sample-{variant}"]
    if setting.item is str:
        return [f"sip/sample-{variant}"] + ([f"team-{variant}"] if setting.repeated else [])
    raise AssertionError(f"no sample for {setting.name} ({setting.item}): add one")


def expected(setting: Setting, values: list[str]) -> Any:
    if setting.repeated:
        return tuple(TypeAdapter(setting.item).validate_python(v) for v in values)
    return TypeAdapter(setting.item).validate_python(values[0])


def as_flags(setting: Setting, values: list[str]) -> list[str]:
    return [part for value in values for part in (setting.flag, value)]


def read(argv: list[str], environ: dict[str, str], model: type[BaseModel]) -> Any:
    args = cli._parser().parse_args(["run", *argv])
    return read_settings(model, args, environ, ENV_PREFIX)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BOLNA_SIP_* or token from the caller's environment."""
    import os

    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("BOLNA_API_TOKEN", raising=False)
    return monkeypatch


def test_every_field_is_a_flag_and_a_variable_but_the_token() -> None:
    flagless = {name for model in MODELS for name in model.model_fields} - set(MODEL_OF)
    assert flagless == {"default_token"}
    flags = [s.flag for s in SETTINGS]
    assert len(flags) == len(set(flags))
    for setting in SETTINGS:
        assert setting.env == ENV_PREFIX + setting.flag[2:].upper().replace("-", "_")
        assert setting.group in SETTING_GROUPS
        assert setting.field.description
        assert setting.switch or setting.metavar


def test_established_flags_and_variables_are_kept() -> None:
    assert {s.flag for s in SETTINGS} >= ESTABLISHED_FLAGS
    assert {s.env for s in SETTINGS} >= ESTABLISHED_VARIABLES


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.flag)
def test_the_flag_sets_it(setting: Setting) -> None:
    model = MODEL_OF[setting.name]
    if setting.switch:
        got = read([setting.flag, *COMPANIONS.get(setting.name, [])], {}, model)
        assert getattr(got, setting.name) is True
        return
    values = sample(setting)
    got = read([*as_flags(setting, values), *COMPANIONS.get(setting.name, [])], {}, model)
    assert getattr(got, setting.name) == expected(setting, values)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_the_variable_sets_it(setting: Setting) -> None:
    model = MODEL_OF[setting.name]
    if setting.switch:
        companions = COMPANIONS.get(setting.name, [])
        assert getattr(read(companions, {setting.env: "1"}, model), setting.name) is True
        assert getattr(read(companions, {setting.env: "false"}, model), setting.name) is False
        return
    values = sample(setting)
    got = read(COMPANIONS.get(setting.name, []), {setting.env: ",".join(values)}, model)
    assert getattr(got, setting.name) == expected(setting, values)


@pytest.mark.parametrize("setting", [s for s in SETTINGS if not s.switch],
                         ids=lambda s: s.flag)
def test_the_flag_wins_over_the_variable(setting: Setting) -> None:
    model = MODEL_OF[setting.name]
    from_env, from_flag = sample(setting, 0), sample(setting, 1)
    got = read([*as_flags(setting, from_flag), *COMPANIONS.get(setting.name, [])],
               {setting.env: ",".join(from_env)}, model)
    assert getattr(got, setting.name) == expected(setting, from_flag)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_neither_and_empty_variables_leave_the_default(model: type[BaseModel]) -> None:
    empty = {s.env: "" for s in settings_of(model, ENV_PREFIX)}
    for environ in ({}, empty):
        got = read([], environ, model)
        for setting in settings_of(model, ENV_PREFIX):
            assert getattr(got, setting.name) == setting.field.default


def test_help_lists_every_setting_in_its_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    sections = {title: out.split(f"\n{title}:\n", 1)[1].split("\n\n\n", 1)[0]
                for title in SETTING_GROUPS if f"\n{title}:\n" in out}
    assert set(sections) == set(SETTING_GROUPS)
    flat = " ".join(out.split())
    for setting in SETTINGS:
        section = " ".join(sections[setting.group].split())
        assert setting.flag in section and setting.env in section, setting.name
        first_words = " ".join(str(setting.field.description).split()[:4])
        assert first_words in flat, setting.name
        default = setting.field.default
        if default not in (None, (), False):
            assert re.search(rf"Default {re.escape(str(default).removesuffix('.0'))};", flat)
    assert "BOLNA_API_TOKEN" in flat and "--token " not in flat and "--api-token" not in flat
    # The token itself has no flag or variable (only the namespaces allowed to use it).
    assert not re.search(r"--default-token(?![-\w])", flat)
    assert not re.search(r"DEFAULT_TOKEN(?!_NAMESPACES)", flat)


def test_no_flag_takes_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--token", "--default-token", "--api-token"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["run", flag, TOKEN])
        assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    assert "the token is never a flag" in err


def test_a_bad_flag_is_named_and_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--drift-interval", "0"])
    assert exit_info.value.code == 2
    assert "error: argument --drift-interval: Input should be greater than 0" in (
        capsys.readouterr().err)


def test_a_bad_variable_is_named_and_exits_two(
        clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("BOLNA_SIP_DRIFT_INTERVAL", "0")
    clean_env.setenv("BOLNA_SIP_HEALTH_PORT", "eighty")
    clean_env.setenv("BOLNA_API_TOKEN", TOKEN)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "error: BOLNA_SIP_DRIFT_INTERVAL: Input should be greater than 0" in err
    assert "error: BOLNA_SIP_HEALTH_PORT: Input should be a valid integer" in err
    assert TOKEN not in err and "validation error" not in err


def test_read_settings_names_where_each_problem_came_from() -> None:
    args = cli._parser().parse_args(["run", "--metrics-port", "9090"])
    with pytest.raises(SettingsError) as error:
        read_settings(ProcessSettings, args, {"BOLNA_SIP_HEALTH_PORT": "9090"}, ENV_PREFIX)
    assert error.value.problems == ["--metrics-port and --health-port must differ (both 9090)"]


def test_run_hands_the_settings_to_the_operator(
        clean_env: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    started: dict[str, Any] = {}

    def fake_run(settings: OperatorSettings, *, liveness_endpoint: str | None = None,
                 metrics: tuple[str, int] | None = None) -> int:
        started.update(settings=settings, liveness=liveness_endpoint, metrics=metrics)
        return 0

    clean_env.setattr("bolna_sip_operator.runner.run", fake_run)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    clean_env.setenv("BOLNA_SIP_TOKEN_FILE", str(token_file))
    clean_env.setenv("BOLNA_SIP_HEALTH_HOST", "0.0.0.0")
    clean_env.setenv("BOLNA_SIP_NAMESPACE", "team-a, team-b")
    clean_env.setenv("BOLNA_SIP_DEBUG", "1")
    clean_env.setenv("BOLNA_SIP_RATE_LIMIT", "100")
    assert cli.main(["run", "--health-port", "8081", "--metrics-port", "9090",
                     "--rate-limit", "200", "--drift-interval", "60"]) == 0
    settings = started["settings"]
    assert isinstance(settings, OperatorSettings)
    assert settings.default_token is not None
    assert settings.default_token.get_secret_value() == TOKEN
    assert settings.namespaces == ("team-a", "team-b")
    assert settings.debug is True
    assert settings.rate_limit_per_minute == 200
    assert settings.drift_interval == 60.0
    assert started["liveness"] == "http://0.0.0.0:8081/healthz"
    assert started["metrics"] == ("0.0.0.0", 9090)
    out, err = capsys.readouterr()
    assert TOKEN not in out + err and TOKEN not in repr(settings)


def test_an_unknown_variable_is_warned_about(
        clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setattr("bolna_sip_operator.runner.run", lambda *a, **k: 0)
    clean_env.setenv("BOLNA_SIP_DRIFT_INTERVALL", "60")
    assert cli.main(["run", "--health-port", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning: BOLNA_SIP_DRIFT_INTERVALL is not a setting" in err


def test_a_new_field_needs_nothing_but_the_field() -> None:
    """A field with group and metavar is a flag, a variable and a help line at once."""
    from pydantic import Field

    from bolna_sip_operator.flags import add_flags

    class Extra(BaseModel):
        shard_count: int = Field(default=3, ge=1, description="Shards.",
                                 json_schema_extra={"group": "Extra", "metavar": "N"})

    parser = argparse.ArgumentParser()
    add_flags(parser, (Extra,), ENV_PREFIX, {"Extra": "More."})
    assert "--shard-count N" in parser.format_help()
    assert "BOLNA_SIP_SHARD_COUNT" in parser.format_help()
    args = parser.parse_args(["--shard-count", "5"])
    assert read_settings(Extra, args, {}, ENV_PREFIX).shard_count == 5
    args = parser.parse_args([])
    assert read_settings(Extra, args, {"BOLNA_SIP_SHARD_COUNT": "4"},
                         ENV_PREFIX).shard_count == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["--shard-count", "0"])
