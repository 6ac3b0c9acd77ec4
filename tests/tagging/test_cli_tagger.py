"""``newsmon train`` and ``newsmon eval --folds`` through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.tagging.evaluate import DEFAULT_FILES
from app.tagging.model import TARGETS
from app.tagging.model import load as load_model

NEWSMON = str(Path(sys.executable).with_name("newsmon"))


def newsmon(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env["NEWSMON_DATABASE_URL"] = f"sqlite:///{tmp_path / 'newsmon.db'}"
    return subprocess.run(
        [NEWSMON, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_train_writes_a_model_the_tagger_can_load(tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    done = newsmon(tmp_path, "train", str(DEFAULT_FILES[1]), "--folds", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "thresholds" in done.stdout
    model = load_model(out)
    assert model is not None
    assert all(0.0 < model.targets[t].threshold < 1.0 for t in TARGETS)
    meta = json.loads(out.read_text(encoding="utf-8"))["meta"]
    assert meta["articles"] == 240 and meta["folds"] == 3


def test_eval_with_folds_prints_json(tmp_path: Path) -> None:
    done = newsmon(tmp_path, "eval", str(DEFAULT_FILES[0]), "--folds", "3", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 61
    assert result["cv"]["folds"] == 3
    assert set(result["cv"]["by_form"]) == {"full"}  # v1 rows carry no form
    assert set(result["cv"]["by_language"]) == {"en", "de", "fr", "es"}


def test_bad_input_is_an_error_message_not_a_traceback(tmp_path: Path) -> None:
    done = newsmon(tmp_path, "eval", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot read") and "Traceback" not in done.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "relevant": true}\n{not json\n', encoding="utf-8")
    done = newsmon(tmp_path, "eval", str(broken))
    assert done.returncode == 1 and "broken.jsonl:2: not JSON" in done.stderr
    done = newsmon(tmp_path, "train", str(broken), "--folds", "1")
    assert done.returncode == 1 and "--folds" in done.stderr
