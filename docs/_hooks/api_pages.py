"""MkDocs hook: one API reference page per subpackage of spikeattack, in the layer order.

The pages are generated at build time from the packages that exist (``::: spikeattack.NAME``,
rendered by mkdocstrings from the docstrings), so the reference follows the code without a
hand-kept list of modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "spikeattack"
# Top to bottom: each layer imports only from the layers below it (see docs/architecture.md).
LAYERS = ("bench", "training", "evaluation", "attacks", "gradients", "interop", "models", "neurons",
          "encoding", "data", "results")
SKIP = {"cli"}  # the command line is documented in the user guide, not as Python API


def packages() -> list[str]:
    found = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name not in SKIP)
    return [name for name in LAYERS if name in found] + [name for name in found if name not in LAYERS]


def modules(name: str) -> list[str]:
    """The public modules of subpackage ``name``, nested ones included, in path order."""
    root = PACKAGE / name
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if path.name == "__init__.py":
            parts = parts[:-1]
        if len(parts) > 2 and not any(part.startswith("_") for part in parts):
            found.append(".".join(parts))
    return found


def page(name: str) -> str:
    """The package's docstring and exported names, then each module with its own docstring."""
    text = [f"# spikeattack.{name}\n",
            f"::: spikeattack.{name}\n"
            "    options:\n"
            "      show_root_heading: false\n"
            "      show_root_toc_entry: false\n"
            "      members: false\n"]
    for module in modules(name):
        text.append(f"::: {module}\n"
                    "    options:\n"
                    "      show_root_heading: true\n"
                    "      show_root_full_path: true\n"
                    "      heading_level: 2\n")
    return "\n".join(text)


def front_door() -> list[tuple[str, str]]:
    """``(name, module)`` for each name ``import spikeattack as sa`` exports, read from the
    ``_EXPORTS`` table of ``spikeattack/__init__.py`` (its names load lazily, so a static reader
    cannot follow them as imports)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == "_EXPORTS" and node.value is not None:
            return list(ast.literal_eval(node.value).items())
    return []


def front_door_markdown() -> str:
    """One short entry per exported name (signature and docstring; members on the package pages)."""
    blocks = []
    for name, module in front_door():
        package = module.split(".")[0]
        blocks.append(f"::: spikeattack.{module}.{name}\n"
                      "    options:\n"
                      "      show_root_heading: true\n"
                      f'      heading: "sa.{name}"\n'
                      f'      toc_label: "sa.{name}"\n'
                      "      heading_level: 3\n"
                      "      members: false\n\n"
                      f"From [`spikeattack.{package}`]({package}.md).\n")
    return "\n".join(blocks)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "api/index.md":
        markdown = markdown.replace(FRONT_DOOR_MARK, front_door_markdown())
    return markdown


FRONT_DOOR_MARK = "<!-- the front door's names are inserted here -->"


def on_config(config):
    for section in config.nav or []:
        if isinstance(section, dict) and "API reference" in section:
            section["API reference"] = ["api/index.md"] + [{f"spikeattack.{n}": f"api/{n}.md"} for n in packages()]
    return config


def on_files(files, config):
    for name in packages():
        files.append(File.generated(config, f"api/{name}.md", content=page(name)))
    return files


# Docstrings cross-reference in Sphinx's style (:class:`Attack`, :func:`~pkg.mod.name`), which
# Markdown renders as a stray role name before the code. Show the name as code only.
ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):<code>~?(?:[\w.]*\.)?([\w]+)</code>")


def on_page_content(html, page, config, files):
    if page.file.src_uri.startswith("api/"):
        html = ROLE.sub(r"<code>\1</code>", html)
        html = html.replace("::</p>", ":</p>")  # reST's literal-block marker before a code block
    return html
