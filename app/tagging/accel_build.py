"""Build the tagger's accelerator: ``python -m app.tagging.accel_build`` (``make install``).

Compiles ``accel.COMPILED`` with mypyc (a C compiler, Python's headers and mypy are needed)
into a fresh directory, checks that the result loads, writes the manifest ``accel`` checks
at import, and only then swaps it in for ``accel.accel_dir()``. Nothing is written beside
the sources. Up to date (the manifest matches the sources and the interpreter): nothing to
do. Any failure prints one line, leaves the full log in ``<accel dir>.log`` and exits 0:
the tagger then runs as pure Python (``--strict``: exit 1 instead).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from app.tagging import accel


class BuildError(Exception):
    pass


def sources() -> list[Path]:
    """The compiled modules and every project module they import, transitively (mypy reads
    them all to type the compiled code: a change to any of them calls for a rebuild)."""
    todo = [accel.ROOT / "app" / "tagging" / f"{m}.py" for m in accel.COMPILED]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name == "app" or name.startswith("app."):
                    todo += _files_of(name)
    return sorted(seen)


def _files_of(module: str) -> list[Path]:
    """The project files that importing ``module`` runs (the packages' ``__init__`` too)."""
    parts = module.split(".")
    found = []
    for k in range(1, len(parts) + 1):
        base = accel.ROOT.joinpath(*parts[:k])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                found.append(candidate)
    return found


def manifest_for(files: list[Path]) -> dict[str, object]:
    return {
        "format": accel.FORMAT,
        "modules": accel.module_names(),
        "library": accel.LIBRARY,
        "ext_suffix": accel.ext_suffix(),
        "python": sys.version,
        "mypy": _version("mypy"),
        "sources": {str(p.relative_to(accel.ROOT)): accel.file_hash(p) for p in files},
    }


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def up_to_date(where: Path) -> bool:
    try:
        manifest = json.loads((where / accel.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(manifest, dict)
        and accel.problem(manifest, where) is None
        and manifest.get("mypy") == _version("mypy")
        and set(manifest.get("sources", {})) == {str(p.relative_to(accel.ROOT)) for p in sources()}
    )


def _check_sources() -> None:
    """A compiled module's ``__file__`` is the build's ``.so``: paths beside the sources must
    be derived elsewhere (as ``taxonomy.DEFAULT_MODEL`` is)."""
    for m in accel.COMPILED:
        path = accel.ROOT / "app" / "tagging" / f"{m}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(tree)):
            raise BuildError(f"{path.name} uses __file__, which would name the build directory")


def _check_tools() -> None:
    if _version("mypy") is None:
        raise BuildError("mypy is not installed (pip install -e '.[accel]')")
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        raise BuildError(f"no C compiler ({cc})")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        raise BuildError(f"no Python headers ({headers})")


def build(where: Path, log: Path) -> float:
    """Compile into a fresh directory beside ``where`` and swap it in; seconds taken."""
    _check_tools()
    _check_sources()
    files = sources()
    started = time.monotonic()
    work = where.with_name(f".{where.name}.{os.getpid()}.build")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        lib = work / "lib"
        paths = [str(accel.ROOT / "app" / "tagging" / f"{m}.py") for m in accel.COMPILED]
        inner = (
            "import sys\n"
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            "work, *paths = sys.argv[1:]\n"
            "setup(name='newsmon-tagging-accel', script_args=['build_ext', '--build-lib',"
            " work + '/lib', '--build-temp', work + '/obj'], ext_modules=mypycify("
            f"['--config-file', {str(accel.ROOT / 'pyproject.toml')!r}, '--cache-dir',"
            " work + '/mypy', *paths], target_dir=work + '/c',"
            f" group_name={accel.GROUP!r}))\n"
        )
        env = {**os.environ, accel.PURE_ENV: "1"}
        with log.open("w", encoding="utf-8") as out:
            done = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
                [sys.executable, "-c", inner, str(work), *paths],
                cwd=work,  # not the project: setuptools would read its pyproject.toml
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode:
            raise BuildError(f"mypyc failed (exit {done.returncode})")
        manifest = manifest_for(files)
        if manifest != manifest_for(sources()):
            raise BuildError("the sources changed during the build")
        (lib / accel.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        _check_loads(lib, log)
        old = where.with_name(f".{where.name}.{os.getpid()}.old")
        if where.exists():
            where.rename(old)
        lib.rename(where)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return time.monotonic() - started


def _check_loads(lib: Path, log: Path) -> None:
    """A fresh interpreter must take the new build (and tag a text with it)."""
    probe = (
        "from app.tagging import accel, load_tagger\n"
        "assert accel.COMPILED_ACTIVE, accel.IMPLEMENTATION\n"
        "load_tagger().tag(title='Amazon and TikTok', summary='', text='A partnership.')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != accel.PURE_ENV}
    env[accel.DIR_ENV] = str(lib)
    with log.open("a", encoding="utf-8") as out:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", probe], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode:
        raise BuildError("the compiled modules do not load")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    where = accel.accel_dir()
    log = where.with_name(where.name + ".log")
    if "--force" not in args and up_to_date(where):
        print(f"tagger accelerator up to date ({where})")
        return 0
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        seconds = build(where, log)
    except (BuildError, OSError) as exc:
        print(f"tagger accelerator not built ({exc}; log: {log}): the tagger runs as pure Python")
        return 1 if "--strict" in args else 0
    print(f"tagger accelerator built in {seconds:.0f} s ({len(accel.COMPILED)} modules, {where})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
