from pathlib import Path

import pytest

from appliance.config import ConfigError, env_names, load_config


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_source():
    config = load_config(files=(), environ={})
    assert config.mcp.port == 8080
    assert config.mcp.bind == "127.0.0.1"
    assert config.data_dir == Path.cwd() / "var"
    assert config.runtime_dir == Path.cwd() / "var" / "run"
    assert config.rt.priority == 70


def test_relative_paths_are_resolved_once_where_the_config_is_loaded(tmp_path, monkeypatch):
    """A relative data or run directory never crosses a process boundary: chaosgarden refuses relative chunk paths."""
    monkeypatch.chdir(tmp_path)
    config = load_config(files=(), environ={"STUDIO_DATA_DIR": "box/data", "STUDIO_RUN_DIR": "../run"})
    assert config.data_dir == tmp_path / "box" / "data"
    assert config.run_dir == config.runtime_dir == tmp_path / ".." / "run"
    assert load_config(files=(), environ={"STUDIO_DATA_DIR": "~/studio"}).data_dir == Path.home() / "studio"


def test_layers_later_wins(tmp_path):
    etc = write(tmp_path / "etc.toml", 'data_dir = "/srv/a"\n[mcp]\nport = 9000\nbind = "0.0.0.0"\n')
    local = write(tmp_path / "local.toml", "[mcp]\nport = 9100\n")
    config = load_config(files=(etc, local), environ={"STUDIO_MCP_BIND": "10.0.0.2"})
    assert config.data_dir == Path("/srv/a")
    assert config.mcp.port == 9100  # local file beats /etc
    assert config.mcp.bind == "10.0.0.2"  # environment beats files


def test_missing_files_are_skipped(tmp_path):
    assert load_config(files=(tmp_path / "absent.toml",), environ={}).mcp.port == 8080


def test_env_list_values_split_on_commas():
    config = load_config(files=(), environ={"STUDIO_MCP_ALLOWED_HOSTS": "studio-1.local, 10.0.0.5"})
    assert config.mcp.allowed_hosts == ["studio-1.local", "10.0.0.5"]


def test_config_files_variable_names_the_files(tmp_path):
    file = write(tmp_path / "x.toml", "log_level = 'debug'\n")
    assert load_config(environ={"STUDIO_CONFIG_FILES": str(file)}).log_level == "debug"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"STUDIO_MCP_PORT": "http"}, "environment: mcp.port: Input should be a valid integer"),
        ({"STUDIO_MCP_PORT": "70000"}, "mcp.port: Input should be less than or equal to 65535"),
        ({"STUDIO_RT_PRIORITY": "0"}, "rt.priority: Input should be greater than or equal to 1"),
        ({"STUDIO_LOG_LEVEL": "loud"}, "log_level: Input should be 'debug', 'info', 'warning' or 'error'"),
        ({"STUDIO_MCP_PROT": "1"}, "STUDIO_MCP_PROT is not a setting; known: STUDIO_DATA_DIR"),
    ],
)
def test_bad_environment_values_name_the_setting(environ, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")) as info:
        load_config(files=(), environ=environ)
    assert "got" in str(info.value) or "not a setting" in str(info.value)


@pytest.mark.parametrize("where", ["environment", "file"])
def test_a_bad_token_is_named_but_not_repeated(tmp_path, where):
    secret = "my-secret-tok"  # too short, but still someone's secret: the error goes to the journal
    file = write(tmp_path / "studio.toml", f"[mcp]\ntoken = '{secret}'\n")
    with pytest.raises(ConfigError, match=r"mcp.token: String should have at least 16 characters$") as info:
        if where == "file":
            load_config(files=(file,), environ={})
        else:
            load_config(files=(), environ={"STUDIO_MCP_TOKEN": secret})
    assert secret not in str(info.value)


def test_bad_file_value_names_the_file(tmp_path):
    bad = write(tmp_path / "studio.toml", "[rt]\nring_seconds = -1\n")
    with pytest.raises(ConfigError, match=rf"{bad}: rt.ring_seconds: Input should be greater than 0 \(got -1\)"):
        load_config(files=(bad,), environ={})


def test_unknown_file_key_is_refused(tmp_path):
    bad = write(tmp_path / "studio.toml", "[mcp]\nprot = 1\n")
    with pytest.raises(ConfigError, match=rf"{bad}: mcp.prot: unknown setting"):
        load_config(files=(bad,), environ={})


def test_broken_toml_is_reported(tmp_path):
    bad = write(tmp_path / "studio.toml", "[mcp\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(files=(bad,), environ={})


@pytest.mark.parametrize("name", ["STUDIO_HIL_HOST", "STUDIO_FAULTS_REPORT", "STUDIO_BENCH_IMAGE", "STUDIO_VM_ACCEL"])
def test_tooling_variables_are_not_settings(name):
    """The test, benchmark and image tools share the prefix; the box must start with them set."""
    load_config(files=(), environ={name: "x"})


def test_env_names_cover_design_names():
    names = env_names()
    for fixed in ("STUDIO_DATA_DIR", "STUDIO_MCP_PORT", "STUDIO_MCP_BIND", "STUDIO_MCP_TOKEN"):
        assert fixed in names
