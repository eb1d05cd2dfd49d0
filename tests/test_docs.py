"""The documentation site builds with no warning (``mkdocs build --strict``), as CI builds it.

Strict mode turns every warning into a failure: a broken link or anchor, a page missing from
the navigation, a docstring mkdocstrings cannot render. The API pages are generated from the
packages that exist (docs/_hooks/api_pages.py), so each one must come out of the build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra (pip install -e '.[docs]'); requirements/dev.lock has it")
pytest.importorskip("mkdocstrings_handlers.python")
pytest.importorskip("material")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
import api_pages  # noqa: E402  (the hook that generates the API pages)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # a notice Material prints on every build
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    return done, site


def test_docs_build_strict_without_warnings(build):
    done, site = build
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)
    assert (site / "index.html").is_file()


def test_every_page_is_built(build):
    done, site = build
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    pages = sorted(p.relative_to(ROOT / "docs").with_suffix("") for p in (ROOT / "docs").rglob("*.md")
                   if "_hooks" not in p.parts)
    for page in pages:
        built = site / page / "index.html" if page.name != "index" else site / page.parent / "index.html"
        assert built.is_file(), f"docs/{page}.md was not built"


def test_an_api_page_per_package(build):
    done, site = build
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    names = api_pages.packages()
    assert {"attacks", "gradients", "models", "neurons", "data", "evaluation"} <= set(names)
    for name in names:
        html = (site / "api" / name / "index.html").read_text(encoding="utf-8")
        assert f"spikeattack.{name}" in html
        assert 'class="doc doc-' in html, f"api/{name}: mkdocstrings rendered nothing"


def test_the_front_door_page_lists_every_exported_name(build):
    done, site = build
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    import spikeattack

    names = [name for name, _ in api_pages.front_door()]
    assert names and set(names) == set(spikeattack.__all__) - {"__version__"}
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in names:
        assert f"sa.{name}" in html, f"api/index.md: sa.{name} is not documented"
