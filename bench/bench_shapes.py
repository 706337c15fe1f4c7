"""`netdef shapes` as a whole process on a ~670-layer ResNet-152 (goal: <= 0.5 s).

    python bench/bench_shapes.py          # writes bench/results/shapes.json
"""
from __future__ import annotations

import sys
import tempfile

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import ROOT, time_process, write_result

sys.path.insert(0, str(ROOT / "tools"))
from make_resnet import resnet


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/resnet152.prototxt"
        text = resnet(152)
        with open(path, "w") as fh:
            fh.write(text)
        layers = text.count("\nlayer {")
        py = [sys.executable]
        baseline = time_process(py + ["-c", "pass"])
        shapes = time_process(py + ["-m", "netdef", "shapes", path])
        as_json = time_process(py + ["-m", "netdef", "shapes", path, "--json"])
        alexnet = time_process(py + ["-m", "netdef", "shapes", str(ROOT / "models" / "alexnet.prototxt")])
    figures = {
        "net": f"ResNet-152 (tools/make_resnet.py), {layers} layers",
        "goal_s": 0.5,
        "netdef_shapes_s": shapes["median_s"],
        "netdef_shapes_json_s": as_json["median_s"],
        "alexnet_shapes_s": alexnet["median_s"],
        "python_startup_s": baseline["median_s"],
        "runs": {"shapes": shapes, "json": as_json, "alexnet": alexnet, "python": baseline},
    }
    print(f"netdef shapes, {layers}-layer ResNet-152: {shapes['median_s']:.3f} s median "
          f"(goal 0.5 s; bare python start {baseline['median_s']:.3f} s); AlexNet {alexnet['median_s']:.3f} s")
    write_result("shapes", figures)


if __name__ == "__main__":
    main()
