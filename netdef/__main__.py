"""`python -m netdef` (also what `torchrun -m netdef` runs in every process)."""
import sys

from netdef.cli import main

if __name__ == "__main__":  # not when a spawned worker re-imports the parent's main module
    sys.exit(main())
