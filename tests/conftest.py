import sys
import pathlib

# Make tests/ importable as plain modules (reference.py, helpers).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
