"""Help text at 80 columns: docstrings are reflowed so Rich wraps whole paragraphs at the terminal's
width, never at the source's line ends (which split sentences into a long and a short line)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.cli.common import reflow_help

WIDTH = 80


def _panel_rows(text: str, title: str) -> list[tuple[str, str]]:
    """``(first column, description)`` of each line of a help panel."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("╭") and title in line:
            inside = True
        elif line.startswith("╰"):
            inside = False
        elif inside and line.startswith("│"):
            body = line.strip("│")
            rows.append((body[:16].strip(), body[16:].strip()))
    return rows


def _help(*args: str) -> str:
    result = CliRunner().invoke(build_app(), [*args, "--help"], env={"COLUMNS": str(WIDTH), "TERM": "dumb"},
                                terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    return result.output


def test_reflow_joins_lines_and_keeps_paragraphs_and_lists():
    assert reflow_help("One two\n    three.\n\n    Next\n    para.") == "One two three.\n\nNext para."
    assert reflow_help("Intro.\n\n- a\n- b") == "Intro.\n\n- a\n- b"


def test_command_descriptions_fill_their_lines_at_80_columns():
    rows = _panel_rows(_help(), "Commands")
    groups: list[list[str]] = []
    for name, desc in rows:
        if name or not groups:
            groups.append([])
        groups[-1].append(desc)
    assert len(groups) > 10
    for lines in groups:
        for line in lines[:-1]:  # every line but a description's last is (nearly) full
            assert len(line) >= 40, lines


@pytest.mark.parametrize("command", [["predict"], ["index"], ["serve"], ["segment", "predict"]])
def test_a_commands_own_help_is_not_broken_mid_sentence(command):
    text = _help(*command)
    prose = text.split("╭")[0]
    lines = [line.strip() for line in prose.splitlines()[3:]]
    for line, following in zip(lines, lines[1:]):
        if line and following:  # within a paragraph: only the last line may be short
            assert len(line) >= 50, (line, following)
