"""The README's two commands stay true: CI runs the README's test command verbatim,
and the main-job command's netdef part works on the embedded default."""
import re
import shutil

from netdef.cli import main
from reference import ROOT


def readme_command(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(heading) + r"\*\*\s*```\n(.+?)\n```", text, re.S)
    assert block, f"README has no command under {heading!r}"
    return block.group(1).strip()


def test_ci_runs_the_readme_test_command():
    command = readme_command("**Install and run the tests:")
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines(), "the README's test command and .ci/run differ"
    assert "set -euo pipefail" in ci


def test_main_job_command_runs(tmp_path, monkeypatch, capsys):
    command = readme_command("**Install and run the main job on the embedded default (AlexNet):")
    netdef_parts = [p.strip() for p in command.split("&&") if p.strip().startswith("netdef ")]
    assert [p.split()[1] for p in netdef_parts] == ["shapes", "draw"]
    has_dot = shutil.which("dot") is not None
    monkeypatch.chdir(ROOT)
    for part in netdef_parts:
        args = part.split()[1:]
        if "-o" in args:  # write the picture somewhere harmless
            args[args.index("-o") + 1] = str(tmp_path / "alexnet.svg")
        # Without graphviz's `dot`, draw writes the .dot source and still succeeds.
        assert main(args) == 0
    out = capsys.readouterr()
    assert "Total params: 60,965,224" in out.out
    assert (tmp_path / ("alexnet.svg" if has_dot else "alexnet.dot")).exists()
