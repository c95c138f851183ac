import logging
import subprocess
import sys


def run_logging(env_extra: dict) -> str:
    code = (
        "import logging; from appliance.logs import setup_logging; setup_logging('hootenanny', 'debug');"
        "log = logging.getLogger('appliance.services.x'); log.warning('disk low'); log.debug('detail');"
        "\ntry:\n  1/0\nexcept ZeroDivisionError:\n  log.exception('boom')"
    )
    env = {"PATH": "/usr/bin:/bin", **env_extra}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr


def test_journal_lines_carry_syslog_priorities():
    out = run_logging({"JOURNAL_STREAM": "8:1234"})
    lines = out.splitlines()
    assert lines[0] == "<4>hootenanny appliance.services.x: disk low"
    assert lines[1] == "<7>hootenanny appliance.services.x: detail"
    assert lines[2].startswith("<3>hootenanny appliance.services.x: boom")
    assert all(line.startswith("<3>") for line in lines[2:])  # the traceback keeps its priority


def test_terminal_lines_have_time_and_level():
    out = run_logging({})
    assert " WARNING hootenanny appliance.services.x: disk low" in out
    assert not out.startswith("<")


def test_level_filters():
    from appliance.logs import setup_logging

    setup_logging("x", "warning")
    assert logging.getLogger().level == logging.WARNING
