"""Every code block of the README and of the docs' quick start runs, as a reader would run it.

Fenced ``python`` blocks run in a fresh interpreter, ``bash`` blocks in ``bash -e -o pipefail``,
in document order and in one temporary working directory per document, so a block may use a
file an earlier block of the same document wrote (``spikeattack train ... --out model.pt``,
then ``sa.load_checkpoint("model.pt")``). ``spikeattack`` and ``python`` resolve to this
interpreter's environment; every process gets ``OMP_NUM_THREADS=1``.

A block right after a line ``<!-- not run: REASON -->`` is not run (a reason is required):
commands that take minutes (``make demo``) or need files of the reader's own. Blocks in other
languages (``toml``, ``text``) are not run here. The runnable blocks are sized to stay cheap:
the embedded digits, one or two epochs, a few hundred inputs.

The other pages of the docs are checked without running them: every python block compiles,
every bash block parses, and every ``sa.NAME`` they mention exists at the top level of
``spikeattack``. ``SPIKEATTACK_DOCS_RUN_ALL=1`` runs their code blocks too (minutes).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/getting-started.md")
OTHER_PAGES = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")
                           if str(p.relative_to(ROOT)) not in DOCUMENTS)) + ("CONTRIBUTING.md",)
RUN_ALL = os.environ.get("SPIKEATTACK_DOCS_RUN_ALL") == "1"
RUNNABLE = ("python", "bash")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^`]*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->\s*$")
README_MAX_LINES = 200
TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    path: str
    line: int          # 1-based line of the opening fence
    lang: str
    code: str
    not_run: str | None  # the reason, for a block marked <!-- not run: ... -->

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.lang})"


def code_blocks(path: str) -> list[Block]:
    """The fenced code blocks of a Markdown file, with the ``not run`` mark of the line before."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, start = opening["indent"], i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{path}:{start + 1}: code block is never closed"
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[start + 1:end]]
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = NOT_RUN.match(before)
        blocks.append(Block(path, start + 1, opening["lang"].lower(), "\n".join(body) + "\n",
                            mark["reason"] if mark else None))
        i = end + 1
    return blocks


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["MPLBACKEND"] = "Agg"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_block(block: Block, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", block.code] if block.lang == "python" else \
        ["bash", "-e", "-o", "pipefail", "-c", block.code]
    return subprocess.run(command, cwd=cwd, env=_environment(), capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


_passed_python: set[str] = set()  # a python block is self-contained: the same code passes once


@pytest.mark.parametrize("path", DOCUMENTS + tuple(
    pytest.param(p, marks=pytest.mark.skipif(not RUN_ALL, reason="SPIKEATTACK_DOCS_RUN_ALL=1 runs it"))
    for p in OTHER_PAGES))
def test_every_code_block_runs(path, tmp_path):
    runnable = [b for b in code_blocks(path) if b.lang in RUNNABLE and b.not_run is None]
    if path not in DOCUMENTS and not runnable:
        pytest.skip(f"{path}: no runnable code block")
    assert runnable, f"{path}: no runnable code block found"
    failures = []
    for block in runnable:
        if block.lang == "python" and block.code in _passed_python:
            continue
        done = run_block(block, tmp_path)
        if done.returncode != 0:
            failures.append(f"{block}: exit {done.returncode}\n--- code\n{block.code}--- stderr (end)\n"
                            f"{done.stderr[-3000:]}")
        elif block.lang == "python":
            _passed_python.add(block.code)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("path", DOCUMENTS + OTHER_PAGES)
def test_blocks_are_marked_well(path):
    blocks = code_blocks(path)
    for block in blocks:
        assert block.lang, f"{block}: a code block without a language (python, bash, toml, text ...)"
    text = (ROOT / path).read_text(encoding="utf-8")
    marks = len(re.findall(r"^\s*<!--\s*not run", text, re.MULTILINE))
    assert marks == sum(b.not_run is not None for b in blocks), (
        f"{path}: a '<!-- not run: REASON -->' mark must stand right before a code block and give a reason")


def test_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, "README.md: keep it short; move material into docs/"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


@pytest.mark.parametrize("path", DOCUMENTS + OTHER_PAGES)
def test_every_block_parses(path):
    for block in code_blocks(path):
        if block.lang == "python":
            try:
                compile(block.code, str(block), "exec")
            except SyntaxError as exc:
                pytest.fail(f"{block}: {exc}")
        elif block.lang == "bash":
            done = subprocess.run(["bash", "-n", "-c", block.code], capture_output=True, text=True)
            assert done.returncode == 0, f"{block}: {done.stderr}"


@pytest.mark.parametrize("path", DOCUMENTS + OTHER_PAGES)
def test_every_front_door_name_exists(path):
    """``sa.NAME`` anywhere in a page (code or prose) names something ``import spikeattack as sa`` has."""
    import spikeattack

    text = (ROOT / path).read_text(encoding="utf-8")
    missing = sorted({name for name in re.findall(r"(?<![\w.])sa\.([A-Za-z_]\w*)", text)
                      if not hasattr(spikeattack, name)})
    assert not missing, f"{path} uses sa.{', sa.'.join(missing)}, which spikeattack does not export"


def test_the_quick_start_is_the_same_in_the_readme_and_the_docs():
    def quick_start(path: str) -> str:
        found = [b.code for b in code_blocks(path) if b.lang == "python" and "sa.standard_evaluation(" in b.code]
        assert len(found) == 1, f"{path}: expected one quick-start block (python, calling sa.standard_evaluation)"
        return found[0]

    assert quick_start("README.md") == quick_start("docs/getting-started.md")
