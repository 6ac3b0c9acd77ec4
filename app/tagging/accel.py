"""The tagger's optional accelerator: its hot modules compiled with mypyc, sources as fallback.

``make install`` runs ``python -m app.tagging.accel_build``, which compiles the modules in
``COMPILED`` into a directory outside the source tree (``NEWSMON_ACCEL_DIR``, default
``<sys.prefix>/newsmon-accel``, i.e. ``.venv/newsmon-accel``) and writes a manifest: the
SHA-256 of every source the build read (the compiled modules and the project modules they
import), the interpreter's extension suffix and the module list.

Imported first by ``app/tagging/__init__.py``, this module puts the compiled modules in place
(a meta path finder for exactly those names) only when the manifest matches the sources on
disk byte for byte and the interpreter. Anything else — no build, a build that failed, an
edited source (even one byte), another interpreter, ``NEWSMON_PURE_PYTHON=1``, a compiled
module that fails to load — leaves every module to the sources, without an error. The
modules are used all together or not at all: compiled modules call each other directly, so
one stale module would otherwise run old code through its neighbours.

``IMPLEMENTATION`` says which ran and why ("compiled (mypyc, 12 modules)" or
"pure Python (…)"); ``python -m bench tagger`` prints it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "app.tagging"
# The path of ``Tagger.tag`` (docs/tagger.md, "Round 6"), and the rules it reads. Not
# compiled: the package's ``__init__`` (which imports this module first), taxonomy (it
# finds the package's data files by ``__file__``), lemma and cache plumbing, training and
# evaluation, this module and its builder.
COMPILED = (
    "tokens",
    "matcher",
    "themes",
    "relevance",
    "features",
    "model",
    "explain",
    "language",
    "evidence",
    "result",
    "rules",
    "tagger",
)
GROUP = f"{PACKAGE}._accel"  # mypyc's group: its shared library is GROUP + "__mypyc"
LIBRARY = GROUP + "__mypyc"
MANIFEST = "manifest.json"
FORMAT = 1
PURE_ENV = "NEWSMON_PURE_PYTHON"
DIR_ENV = "NEWSMON_ACCEL_DIR"
ROOT = Path(__file__).resolve().parents[2]  # the directory holding the ``app`` package


def accel_dir() -> Path:
    """Where the compiled modules live: per interpreter environment, never in the sources."""
    return Path(os.environ.get(DIR_ENV) or Path(sys.prefix) / "newsmon-accel")


def ext_suffix() -> str:
    return str(sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def module_names() -> list[str]:
    return [f"{PACKAGE}.{m}" for m in COMPILED]


def problem(manifest: dict[str, Any], where: Path, root: Path = ROOT) -> str | None:
    """Why the build in ``where`` described by ``manifest`` must not be used (None: usable)."""
    if manifest.get("format") != FORMAT:
        return "its manifest is of another format"
    if manifest.get("modules") != module_names() or manifest.get("library") != LIBRARY:
        return "it compiled another module list"
    if manifest.get("ext_suffix") != ext_suffix():
        return f"it was built for another interpreter ({manifest.get('ext_suffix')})"
    sources = manifest.get("sources")
    if not isinstance(sources, dict) or not sources:
        return "its manifest lists no sources"
    for rel, digest in sorted(sources.items()):
        try:
            current = file_hash(root / rel)
        except OSError:
            return f"{rel} is missing"
        if current != digest:
            return f"{rel} changed since the build (run `make install` to rebuild)"
    for name in [*module_names(), LIBRARY]:
        if not (where / _relpath(name)).is_file():
            return f"{_relpath(name)} is missing"
    return None


def _relpath(name: str) -> str:
    return name.replace(".", "/") + ext_suffix()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds exactly the modules in ``COMPILED`` (and the group's shared library): in the
    build when it is used, else their ``.py`` sources, so that no extension module left
    beside the sources (an in-place mypyc run) can shadow them either."""

    def __init__(self, where: Path | None) -> None:
        names = [*module_names(), LIBRARY]
        if where is None:
            self.files = {n: ROOT / (n.replace(".", "/") + ".py") for n in module_names()}
        else:
            self.files = {n: where / _relpath(n) for n in names}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None or not file.is_file():
            return None
        loader: importlib.abc.Loader
        if file.suffix == ".py":
            loader = importlib.machinery.SourceFileLoader(fullname, str(file))
        else:
            loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def _activate() -> str:
    """Put the compiled modules in place if they may be used, else the sources; say which."""
    why = _unusable()
    if why is None:
        finder = _Finder(accel_dir())
        sys.meta_path.insert(0, finder)
        try:
            for name in module_names():
                importlib.import_module(name)
        except Exception as exc:  # any failure to load: the sources, as if nothing was built
            sys.meta_path.remove(finder)
            for name in [*module_names(), LIBRARY]:
                sys.modules.pop(name, None)
            why = f"compiled modules failed to load: {exc!r}"
        else:
            return f"compiled (mypyc, {len(COMPILED)} modules)"
    sys.meta_path.insert(0, _Finder(None))
    return f"pure Python ({why})"


def _unusable() -> str | None:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return f"{PURE_ENV}={os.environ[PURE_ENV]}"
    if any(name in sys.modules for name in [*module_names(), LIBRARY]):
        return "tagger modules were imported before the accelerator"
    where = accel_dir()
    try:
        manifest = json.loads((where / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "accelerator not built: `make install` builds it"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest: {exc}"
    if not isinstance(manifest, dict):
        return "unreadable manifest"
    why = problem(manifest, where)
    return None if why is None else f"compiled modules not used: {why}"


IMPLEMENTATION = _activate()
COMPILED_ACTIVE = IMPLEMENTATION.startswith("compiled")


def implementation() -> str:
    return IMPLEMENTATION
