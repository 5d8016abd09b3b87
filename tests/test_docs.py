"""Examples are tested code: every Python block in README.md and docs/, and the examples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_"))}
    return env


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("doc", [d for d in DOCS if _python_blocks(d)], ids=lambda d: d.name)
def test_python_blocks_run(doc: Path, tmp_path: Path) -> None:
    script = "\n\n".join(_python_blocks(doc))
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mltrail.db").exists()


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("examples/quickstart/tracking.py", "Run id:"),
        ("examples/demo/train.py", "Logged 6 runs"),
    ],
)
def test_examples_run_and_log(example: str, expected: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / example)],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import mltrail; runs = mltrail.search_runs(search_all_experiments=True, "
            "output_format='list'); print(len(runs), sorted({r.info.status for r in runs}))",
        ],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    count, statuses = check.stdout.split(" ", 1)
    assert int(count) >= 1
    assert statuses.strip() == "['FINISHED']"
