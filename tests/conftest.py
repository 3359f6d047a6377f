import sys
from pathlib import Path

# The program imports its components as the top-level package `components`, as it does under `pulumi up`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
