"""Run exported files with netdef unimportable: `python standalone_run.py DIR`.

DIR holds inputs.npz (arrays in input order), net.pt (TorchScript) and model.py +
model.pt (generated PyTorch); writes torchscript.npz and pytorch.npz, one array
per output blob, in the order of outputs.txt.
"""
import importlib.util
import pathlib
import sys
import warnings

sys.modules["netdef"] = None   # any `import netdef` now raises ImportError

import numpy as np
import torch

folder = pathlib.Path(sys.argv[1])
with np.load(folder / "inputs.npz") as npz:
    inputs = [torch.from_numpy(npz[k]) for k in sorted(npz.files)]
outputs = (folder / "outputs.txt").read_text().split()


def save(name, out):
    values = [out] if isinstance(out, torch.Tensor) else [out[o] for o in outputs]
    np.savez(folder / name, *[v.detach().numpy() for v in values])


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    traced = torch.jit.load(str(folder / "net.pt"))
with torch.no_grad():
    save("torchscript.npz", traced(*inputs))

spec = importlib.util.spec_from_file_location("model", folder / "model.py")
model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model)
with torch.no_grad():
    save("pytorch.npz", model.load_net()(*inputs))
print("ok")
