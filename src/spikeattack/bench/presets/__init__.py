"""Experiment presets shipped with the package (``demo``, ``<paper>-small``, ``<paper>-full``)."""

from __future__ import annotations

from importlib import resources

PAPERS = ("liang", "rga", "hart", "sharmin")
SCALES = ("small", "full")


def preset_text(name: str) -> str:
    """The TOML text of preset ``name`` (e.g. ``demo``, ``hart-small``)."""
    available = sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))
    if name not in available:
        raise ValueError(f"preset: unknown name {name!r}; expected one of {', '.join(available)}")
    return resources.files(__name__).joinpath(f"{name}.toml").read_text()
