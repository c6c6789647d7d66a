"""`aggregator tag --jsonl`, run as the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from aggregator.cli import main

ARTICLE = {
    "id": "a1",
    "title": "U.S. imposes new sanctions on Iran's oil exports",
    "text": "The United States imposed new sanctions on Iran on Monday, the Treasury said. "
    "The sanctions target Iranian oil exports and the shipping firms that carry them.",
}


def test_tag_jsonl_tags_lines_and_reports_bad_ones() -> None:
    lines = "\n".join(
        [
            json.dumps(ARTICLE),
            "not json",
            json.dumps({"id": 7, "title": "Weather", "text": "Sunny all week."}),
            json.dumps({"title": "no id"}),
        ]
    )
    result = CliRunner().invoke(main, ["tag", "--jsonl"], input=lines + "\n")
    assert result.exit_code == 1  # some lines were bad, the rest were still tagged
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["id"] for row in out] == ["a1", 7]
    assert out[0]["topics"] == ["us-iran", "sanctions"]
    assert out[0]["explanations"]["sanctions"]["matched"] is True
    assert out[1] == {"id": 7, "topics": [], "explanations": {}}
    errors = result.stderr.splitlines()
    assert errors[0].startswith("line 2: not JSON")
    assert errors[1] == "line 4: missing 'id'"


def test_tag_with_a_topics_file(tmp_path: Path) -> None:
    topics = tmp_path / "topics.toml"
    topics.write_text(
        '[[topic]]\nslug = "weather"\nname = "Weather"\nthreshold = 1\n'
        '[topic.groups]\nsky = ["sun*", "rain"]\n[[topic.rules]]\nid = "sky"\nmatch = "@sky"\n',
        encoding="utf-8",
    )
    lines = json.dumps({"id": 1, "title": "Weather", "text": "Sunny all week."}) + "\n"
    result = CliRunner().invoke(main, ["tag", "--jsonl", "--topics", str(topics)], input=lines)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["topics"] == ["weather"]
    assert row["explanations"]["weather"]["parts"][0]["evidence"][0]["terms"] == ["Sunny"]


def test_bad_topics_file_is_a_one_line_error(tmp_path: Path) -> None:
    topics = tmp_path / "topics.toml"
    topics.write_text('[[topic]]\nslug = "w"\nname = "W"\nthreshold = 1\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["tag", "--jsonl", "--topics", str(topics)], input="")
    assert result.exit_code == 1
    assert "missing [[rules]]" in result.stderr
    assert "Traceback" not in result.output


def test_console_script_pipes_stdin_to_stdout() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "aggregator", "tag", "--jsonl"],
        input=json.dumps(ARTICLE) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(completed.stdout)["topics"] == ["us-iran", "sanctions"]
