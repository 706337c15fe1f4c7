"""What the GPU checks run on: GPU, torch, triton, and which of netdef's dependencies import."""
import importlib
import os
import platform
import sys

print("python", sys.version.split()[0], platform.platform(), "cpus", os.cpu_count())
import torch

print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      "devices", torch.cuda.device_count())
for i in range(torch.cuda.device_count()):
    print("  device", i, torch.cuda.get_device_name(i))
for mod in ("triton", "google.protobuf", "numpy", "lmdb", "h5py", "pytest", "PIL", "cv2", "tqdm",
            "matplotlib", "plyvel", "graphviz"):
    try:
        m = importlib.import_module(mod)
        print(f"{mod}: {getattr(m, '__version__', 'ok')}  ({getattr(m, '__file__', '')})")
    except Exception as err:  # noqa: BLE001  a report, whatever the failure
        print(f"{mod}: MISSING ({type(err).__name__}: {err})")
import netdef

print("netdef from", netdef.__file__)
