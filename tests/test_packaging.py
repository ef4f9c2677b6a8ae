"""What `pip install .` installs: every package folder of the project, mapped where it lives. A folder
left out of pyproject.toml works in an editable install (the tests') and is missing from a real one."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("app", "store", "widgets", "styles")


def test_every_package_folder_is_installed_where_it_lives():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {str(init.parent.relative_to(ROOT)) for top in TOP for init in (ROOT / top).rglob("__init__.py")
               if "__pycache__" not in init.parts}
    mapped = setuptools["package-dir"]
    assert sorted(mapped.values()) == sorted(folders)
    assert sorted(setuptools["packages"]) == sorted(mapped)
    assert all(name == "swarmdeck." + folder.replace("/", ".") for name, folder in mapped.items())
