"""The report's first section: the number to quote per target and budget."""

from __future__ import annotations

from ..output import norm_name
from ..rows import format_eps
from .context import ReportContext
from .stats import with_ci


def section_quote(ctx: ReportContext) -> None:
    d = ctx.doc
    if not any(q.evaluation is not None for q in ctx.quotes):
        return  # without a standard evaluation the grid's headline (next section) is the number
    d.heading(2, "The number to quote")
    d.para("Robust accuracy per target and budget: the standard evaluation (a fixed cascade of attacks x gradient "
           "estimators, per-input worst case, AutoAttack's rule; on event data the event evaluation, an L0 cascade "
           "of SDA and spike-BIM with eps in elements) where the experiment asks for one "
           "(`[[evaluate]]`), else the per-input worst case over the grid's white-box cells (next section). "
           "Brackets: 95% Clopper-Pearson interval. \"grid breaks\" counts inputs the standard evaluation left "
           "robust that a grid cell broke (a hygiene flag when not 0).")
    header = ["target", "norm", "eps", "n", "robust acc. (%)", "from", "converged", "grid worst case (%)",
              "grid breaks"]
    rows = []
    for q in ctx.quotes:
        rows.append([ctx.name(q.experiment, q.target), norm_name(q.norm),
                     format_eps(q.eps), q.n, with_ci(q.robust_accuracy, q.robust_accuracy_ci), q.source,
                     None if q.evaluation is None or q.evaluation.converged is None else
                     ("yes" if q.evaluation.converged else "NO (still moving)"),
                     None if q.grid is None else with_ci(q.grid.robust_accuracy,
                                                         q.grid.intervals()["robust_accuracy_ci"]),
                     None if q.evaluation is None else len(q.grid_breaks)])
    d.table(header, rows, [False, False, True, True, True, False, False, True, True], name="quote")
