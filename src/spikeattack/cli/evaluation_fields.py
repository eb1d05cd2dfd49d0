"""The standard and the event evaluation as the command line prints them: the ``standard-evaluation``
object (the same shape for both) and the human summary line."""

from __future__ import annotations

from .schemas import accuracy_fields


def evaluation_line(result, what: str, inputs: str) -> str:
    """The human summary of a standard or event evaluation; when the convergence check says the
    number is still moving, the line says so (robust accuracy "at most") and a second line why."""
    low, high = result.robust_accuracy_ci
    moving = result.converged is False
    text = (f"{what} on {result.n} {inputs}: clean accuracy {result.clean_accuracy:.4f}, robust accuracy "
            f"{'at most ' if moving else ''}{result.robust_accuracy:.4f} [95% CI {low:.4f}, {high:.4f}], "
            f"{result.seconds:.1f} s")
    if moving:
        last = result.convergence.rounds[-1]
        text += (f"\nNOT CONVERGED: the last escalation round (x{last.scale} iterations) still broke {last.broken} of "
                 f"{last.attacked} sampled robust inputs; the number is an upper bound that is still moving")
    return text


def standard_fields(result, **head) -> dict:
    """The ``standard-evaluation`` object: ``head`` (checkpoint, dataset, data options), then the result
    with the names every command uses (a stage's or an input's estimator is ``grad``) and the ASR."""
    from ..results.statistics import clopper_pearson

    body = result.to_dict()
    correct = round(result.clean_accuracy * result.n)
    broken = correct - round(result.robust_accuracy * result.n)
    body.update(accuracy_fields(result.clean_accuracy, result.n),
                asr=broken / correct if correct else None,
                asr_ci=list(clopper_pearson(broken, correct)) if correct else None)
    for part in ("stages", "records"):
        body[part] = [{("grad" if k == "estimator" else k): v for k, v in entry.items()} for entry in body[part]]
    order = ("eps", "norm", "version", "n", "clean_accuracy", "clean_accuracy_ci", "robust_accuracy",
             "robust_accuracy_ci", "asr", "asr_ci")
    return head | {k: body.pop(k) for k in order} | body
