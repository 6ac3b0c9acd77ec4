"""The tagger's optional accelerator (app/tagging/accel.py): compiled modules are used only
when built for exactly the sources on disk, and then tag exactly as the sources do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.tagging import accel
from app.tagging.accel_build import main as build_main
from app.tagging.accel_build import manifest_for, sources

ROOT = Path(__file__).resolve().parents[2]
DIGEST = Path(__file__).with_name("digest.py")


def _implementation(**env: str) -> str:
    """``IMPLEMENTATION`` in a fresh interpreter with ``env`` added."""
    code = "from app.tagging import IMPLEMENTATION, load_tagger\nprint(IMPLEMENTATION)"
    full = {k: v for k, v in os.environ.items() if k != accel.PURE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**full, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _require_build() -> None:
    """The accelerator is optional: without a build (no C compiler) the comparisons are
    skipped, except in CI (``CI=true``, ``.ci/run``), where ``make install`` must build it."""
    if not accel.COMPILED_ACTIVE:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI builds the tagger accelerator, but: {accel.IMPLEMENTATION}")
        pytest.skip(accel.IMPLEMENTATION)


@pytest.mark.slow
def test_compiled_and_pure_python_tag_identically() -> None:
    """Every tag result of both labelled files (five field variants, learned layer and rules
    alone, with features and hits: 3,010 records) is the same from the compiled modules as
    from the sources, to the last bit of every float."""
    _require_build()
    env = {k: v for k, v in os.environ.items() if k != accel.PURE_ENV}
    runs = {}
    for pure in ("0", "1"):
        done = subprocess.run(
            [sys.executable, str(DIGEST)],
            env={**env, accel.PURE_ENV: pure},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        runs[pure] = done.stdout.split()
    assert runs["0"][3] == "compiled" and runs["1"][3] == "pure"
    assert runs["0"][:3] == runs["1"][:3]
    assert runs["0"][0] == "3010"


def test_compiled_modules_come_from_the_build_not_the_sources() -> None:
    _require_build()
    import app.tagging.matcher

    assert Path(app.tagging.matcher.__file__).is_relative_to(accel.accel_dir())
    # Nothing compiled beside the sources or at the project root.
    assert not list((ROOT / "app").rglob("*.so"))
    assert not list(ROOT.glob("*__mypyc*"))


def test_pure_python_on_request_and_without_a_build(tmp_path: Path) -> None:
    assert _implementation(NEWSMON_PURE_PYTHON="1") == "pure Python (NEWSMON_PURE_PYTHON=1)"
    assert _implementation(NEWSMON_ACCEL_DIR=str(tmp_path)) == (
        "pure Python (accelerator not built: `make install` builds it)"
    )


def test_an_edited_source_is_never_shadowed_by_its_build(tmp_path: Path) -> None:
    """A build records the hash of every source it read; one changed byte in any of them
    (here: the manifest's record of it) and the sources run, all of them."""
    _require_build()
    build = tmp_path / "accel"
    shutil.copytree(accel.accel_dir(), build)
    assert _implementation(NEWSMON_ACCEL_DIR=str(build)).startswith("compiled")
    manifest = json.loads((build / accel.MANIFEST).read_text())
    manifest["sources"]["app/tagging/themes.py"] = "0" * 64
    (build / accel.MANIFEST).write_text(json.dumps(manifest))
    assert _implementation(NEWSMON_ACCEL_DIR=str(build)) == (
        "pure Python (compiled modules not used: app/tagging/themes.py changed since the"
        " build (run `make install` to rebuild))"
    )


def test_a_build_is_stale_when_any_source_it_read_changes(tmp_path: Path) -> None:
    """``accel.problem`` on a copy of the sources: edited, missing, another interpreter."""
    root = tmp_path / "src"
    files = sources()
    for path in files:
        copy = root / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    build = tmp_path / "build"
    for name in [*accel.module_names(), accel.LIBRARY]:
        so = build / (name.replace(".", "/") + accel.ext_suffix())
        so.parent.mkdir(parents=True, exist_ok=True)
        so.write_bytes(b"")
    manifest = manifest_for(files)
    assert accel.problem(manifest, build, root) is None
    assert "app/tagging/relevance.py" in manifest["sources"]  # type: ignore[operator]
    assert "app/tagging/rules.py" in manifest["sources"]  # type: ignore[operator]  # imported
    edited = root / "app" / "tagging" / "relevance.py"
    edited.write_text(edited.read_text() + "\n")
    assert accel.problem(manifest, build, root) == (
        "app/tagging/relevance.py changed since the build (run `make install` to rebuild)"
    )
    edited.unlink()
    assert accel.problem(manifest, build, root) == "app/tagging/relevance.py is missing"
    assert accel.problem({**manifest, "ext_suffix": ".other.so"}, build, root) == (
        "it was built for another interpreter (.other.so)"
    )
    assert accel.problem({**manifest, "modules": ["x"]}, build, root) == (
        "it compiled another module list"
    )


def test_a_failed_build_says_so_in_one_line_and_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(accel.DIR_ENV, str(blocker / "accel"))
    assert build_main(["--force"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("tagger accelerator not built (")
    assert out.endswith("the tagger runs as pure Python\n")
    assert build_main(["--force", "--strict"]) == 1
