"""Fail when pyproject.toml asks for a package the lock files did not install.

`make install` installs exactly the pinned, hashed versions of requirements-dev.txt and
then the project itself without dependencies, so a dependency added to pyproject.toml
without `make lock` would otherwise surface later as an ImportError in some test."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution, version

from packaging.requirements import Requirement

missing = []
for line in distribution("openkap").requires or []:
    req = Requirement(line)
    if req.marker and not req.marker.evaluate({"extra": "dev"}):
        continue
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        missing.append(f"{req} (not installed)")
        continue
    if installed not in req.specifier:
        missing.append(f"{req} (locked {installed})")
if missing:
    sys.exit("pyproject.toml and the lock files disagree; run `make lock`:\n  " + "\n  ".join(missing))
