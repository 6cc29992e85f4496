"""Runs the calling script inside a virtualenv holding pymdp 0.0.7.1 (created on first use).

pymdp's declared dependencies drag in pytest, nose, sphinx and myst-nb, which it never imports,
so it is installed with --no-deps next to the five libraries it does import. Versions are pinned
so fixtures regenerate identically.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("PYMDP_VENV", HERE / ".venv"))
PYMDP = "inferactively-pymdp==0.0.7.1"
DEPS = ["numpy==2.4.6", "scipy==1.17.1", "pandas==3.1.1", "matplotlib==3.11.2", "seaborn==0.13.2"]


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure() -> None:
    """Re-executes the current script with the virtualenv's interpreter unless already in it."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = venv_python()
    if not py.exists():
        print(f"creating {VENV} with {PYMDP}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    check = subprocess.run([str(py), "-c", "import pymdp, numpy"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", PYMDP], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *DEPS], check=True)
    os.execv(str(py), [str(py), *sys.argv])
