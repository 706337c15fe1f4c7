"""The README's two commands stay true: CI runs the README's test command verbatim,
the main-job command's netdef part works on the embedded default, and the Training
section's Python example runs."""
import re
import shutil

from netdef.cli import main
from reference import ROOT
from solverhelp import dummy_net, write_solver


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


def _results(name: str) -> dict:
    import json

    return json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())


def test_speed_figures_are_the_results_files():
    """Every figure of the README's Speed table is the one its bench/results file holds,
    and the table's date is each file's date."""
    readme = (ROOT / "README.md").read_text()
    speed = readme[readme.index("## Speed"):]
    speed = speed[: speed.index("\n## ")] if "\n## " in speed else speed
    shapes, alexnet, lrn = _results("shapes"), _results("alexnet"), _results("lrn_pool")
    cpu = alexnet["cpu"]
    norm1 = lrn["lrn"]["norm1 10x96x55x55"]
    expected = [
        f"| {shapes['netdef_shapes_s']:.2f} s |",
        f"| {cpu['median_ms']['netdef']:.0f} ms median |",
        f"| {cpu['median_ms']['hand_naive']:.0f} ms (netdef {cpu['ratio_hand_naive_over_netdef']:.2f}× faster) |",
        f"| {cpu['median_ms']['hand_kernels']:.0f} ms (ratio {cpu['ratio_hand_kernels_over_netdef']:.2f}) |",
        f"| {norm1['netdef']:.1f} ms vs {norm1['naive_avg_pool3d']:.1f} ms for avg_pool3d |",
        f"the default allocator gives {_results('alexnet_default_allocator')['cpu']['median_ms']['netdef']:.0f} ms",
    ]
    for figure in expected:
        assert figure in speed, f"README's Speed section lacks {figure!r} (from bench/results)"
    for doc in (shapes, alexnet, lrn):
        assert f"Measured {doc['date']}" in speed


def test_training_python_example_runs(tmp_path, monkeypatch):
    """The Python example of the README's Training section, run verbatim on a small
    net with a test net (solver.prototxt beside it)."""
    text = (ROOT / "README.md").read_text()
    training = text[text.index("## Training"):text.index("\n## ", text.index("## Training") + 1)]
    block = re.search(r"```python\n(.+?)\n```", training, re.DOTALL)
    assert block, "README's Training section has no Python example"
    write_solver(tmp_path, dummy_net(), max_iter=20, test_iter=2, test_interval=10)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block.group(1), "README.md (Training)", "exec"), scope)  # noqa: S102  the README's own code
    assert scope["solver"].iter == 20 and len(scope["solver"].test_nets) == 1
    assert list(scope["scores"][0]) == ["loss"]
    assert (tmp_path / "snap_iter_10.solverstate").exists() and (tmp_path / "snap_iter_20.caffemodel").exists()
