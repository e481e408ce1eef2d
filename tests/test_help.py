"""--help teaches: every command answers it with its own examples, and a
flow file is called FLOW everywhere."""

from __future__ import annotations

import pytest

from ivrflow.cli import cli, main


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_explains_itself_with_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert f"Usage: ivrflow {command}" in text
    assert f"ivrflow {command} " in text.split("Options:")[0].split("\n", 2)[2] or command == "targets", \
        f"`ivrflow {command} --help` shows no example"
    usage = text.splitlines()[0]
    assert " FILE" not in usage.replace("FILE.plan", ""), usage  # flows are FLOW in every command
