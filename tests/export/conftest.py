import pathlib
import sys

# exporting.py (helpers shared by the export tests) imports as a plain module.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
