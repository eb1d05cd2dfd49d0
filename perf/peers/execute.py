"""Running one recipe or stage of :mod:`.recipes` on a :class:`.runner.Context` -> a Record."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import torch

from .runner import BATCH, Clock, Context, Record, in_batches
from . import sa


def hart_gamma(ctx: Context) -> float:
    """HART's gamma for this model and eps, tuned as the standard evaluation tunes it (PGD-10 on 200
    held-out training inputs, gammas ``HART_GAMMAS``); cached with its CPU seconds."""
    path = ctx.folder / "hart_gamma.json"
    if path.exists():
        return float(json.loads(path.read_text())["gamma"])
    with Clock() as clock:
        result = sa.tune_estimator(ctx.model, ctx.train_dataset(), "hart", "gamma", sa.HART_GAMMAS, attack="pgd",
                                   attack_params={"eps": ctx.eps, "norm": "linf", "steps": 10}, n=200, seed=ctx.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"gamma": result.best, "scores": {str(k): v for k, v in result.scores.items()},
                                "cpu_s": round(clock.cpu, 3)}))
    return float(result.best)


def grad_kwargs(ctx: Context, grad: str) -> dict:
    if grad == "hart":
        return {"grad": "hart", "grad_params": {"gamma": hart_gamma(ctx)}}
    if grad == "mdse":
        g = hart_gamma(ctx)
        members = [sa.make_estimator(e, **({"gamma": g} if e == "hart" else {})) for e in
                   ("stbp", "bptr", "rga", "hart", "cba")]
        return {"grad": "mdse", "grad_params": {"members": members}}
    return {"grad": grad}


def build_attack(ctx: Context, spec: dict, cls=None, seed_offset: int = 0, targeted: bool = False):
    params = {"eps": ctx.eps, "norm": "linf", "seed": ctx.seed + seed_offset, "steps": spec["steps"],
              **grad_kwargs(ctx, spec["grad"])}
    if "loss" in spec:
        params["loss"] = spec["loss"]
    if targeted:
        params["targeted"] = "given"
    if cls is None:
        return sa.make_attack(spec["attack"], ctx.model, **params)
    return cls(ctx.model, **params)


def warm_class(cls):
    """``cls`` (APGD or SA-PGD) run once from a given start point ``attack.start`` (set per batch)."""
    class Warm(cls):
        start: torch.Tensor | None = None

        def perturb(self, x, y, target):
            return self.run(x, y, target, self.start.clone())[0]

    Warm.__name__ = f"Warm{cls.__name__}"
    return Warm


class CountingSquare(sa.Square):
    """spikeattack's Square that also counts each input's queries: a shadow of ``perturb``'s own
    bookkeeping (each call after the first scores exactly the inputs whose margin is still >= 0)."""

    def perturb(self, x, y, target):
        self.queries = torch.zeros(len(y), dtype=torch.long)
        self._shadow = None
        return super().perturb(x, y, target)

    def margin(self, x, y, target):
        out = super().margin(x, y, target)
        if self._shadow is None:
            self._shadow = out.clone()
            self.queries += 1
        else:
            active = (self._shadow >= 0).nonzero().squeeze(1)
            if len(active) != len(out):
                raise RuntimeError("CountingSquare: the shadow bookkeeping lost track of the active inputs")
            self.queries[active] += 1
            better = out < self._shadow[active]
            self._shadow[active[better]] = out[better]
        return out


# ---------------------------------------------------------------------------- kinds
def run_attack(ctx: Context, name: str, spec: dict, save_adv: bool) -> Record:
    idx, cost = ctx.correct_idx(), torch.zeros(ctx.n)
    attack = build_attack(ctx, spec)
    with Clock() as clock:
        x_adv = in_batches(ctx, attack, idx, cost)
    broken = ctx.broken_by(x_adv, idx)
    if save_adv:
        ctx.folder.mkdir(parents=True, exist_ok=True)
        torch.save({"idx": idx, "x_adv": x_adv}, ctx.folder / f"{name}.adv.pt")
    return ctx.record(name, idx[broken], cost, clock.cpu, clock.wall, attack.describe())


def run_targeted(ctx: Context, name: str, spec: dict) -> Record:
    idx, K = ctx.correct_idx(), spec["targets"]
    attack = build_attack(ctx, spec, targeted=True)
    with torch.no_grad():
        ranked = torch.cat([ctx.model(ctx.x[idx[i:i + BATCH]]) for i in range(0, len(idx), BATCH)]
                           ).argsort(-1, descending=True)
    others = ranked[ranked != ctx.y[idx].view(-1, 1)].view(len(idx), -1)
    cost_t = torch.zeros(K, ctx.n)
    broken_at = torch.full((ctx.n,), -1, dtype=torch.long)
    alive = torch.ones(len(idx), dtype=torch.bool)
    with Clock() as clock:
        for k in range(K):
            if not alive.any():
                break
            a = idx[alive]
            x_adv = in_batches(ctx, lambda xb, yb, tb: attack(xb, yb, tb), a, cost_t[k], others[alive][:, k])
            fooled = ctx.broken_by(x_adv, a)
            broken_at[a[fooled]] = k
            alive[alive.clone()] = ~fooled
    return ctx.record(name, (broken_at >= 0).nonzero().squeeze(1), cost_t.sum(0), clock.cpu, clock.wall,
                      attack.describe() | {"targets": K},
                      {"broken_at": broken_at.tolist(), "cost_targets": [[round(float(c), 6) for c in row]
                                                                         for row in cost_t]})


def run_restart(ctx: Context, name: str, spec: dict, catalog: dict) -> Record:
    base = ctx.cached(spec["base"])
    base_spec = catalog[spec["base"]]
    left = torch.tensor([c and not b for c, b in zip(base.clean_correct, base.broken)]).nonzero().squeeze(1)
    cost = torch.tensor(base.cost)
    attack = build_attack(ctx, base_spec, seed_offset=1)
    with Clock() as clock:
        x_adv = in_batches(ctx, attack, left, cost)
    new = left[ctx.broken_by(x_adv, left)]
    old = torch.tensor(base.broken).nonzero().squeeze(1)
    return ctx.record(name, torch.cat([old, new]), cost, base.cpu_s + clock.cpu, base.wall_s + clock.wall,
                      attack.describe() | {"restart_of": spec["base"]}, {"second_run_broke": len(new)})


def run_warm(ctx: Context, name: str, spec: dict) -> Record:
    """``from`` followed by this run warm-started at ``from``'s kept point on the inputs it left
    robust; the record is the composite (broken by either; cost of both), like a restart's."""
    base = ctx.cached(spec["from"])
    saved = torch.load(ctx.folder / f"{spec['from']}.adv.pt", weights_only=True)
    pos = {int(i): j for j, i in enumerate(saved["idx"])}
    left = torch.tensor([c and not b for c, b in zip(base.clean_correct, base.broken)]).nonzero().squeeze(1)
    starts = saved["x_adv"][[pos[int(i)] for i in left]] if len(left) else ctx.x[:0]
    cls = {"apgd": sa.APGD, "sapgd": sa.SAPGD}[spec["attack"]]
    attack = build_attack(ctx, spec, cls=warm_class(cls))
    cost = torch.tensor(base.cost)

    def call(xb, yb, sb):
        attack.start = sb
        return attack(xb, yb)

    with Clock() as clock:
        x_adv = in_batches(ctx, call, left, cost, starts)
    new = left[ctx.broken_by(x_adv, left)]
    old = torch.tensor(base.broken).nonzero().squeeze(1)
    return ctx.record(name, torch.cat([old, new]), cost, base.cpu_s + clock.cpu, base.wall_s + clock.wall,
                      attack.describe() | {"warm_from": spec["from"]},
                      {"second_run_broke": len(new), "second_run_cpu_s": round(clock.cpu, 3)})


def run_square(ctx: Context, name: str, spec: dict) -> Record:
    idx, cost = ctx.correct_idx(), torch.zeros(ctx.n)
    attack = CountingSquare(ctx.model, eps=ctx.eps, norm="linf", steps=spec["queries"], seed=ctx.seed,
                            p_init=spec.get("p_init"))
    out = ctx.x[idx].clone()
    queries = torch.zeros(ctx.n, dtype=torch.long)
    with Clock() as clock:
        for start in range(0, len(idx), BATCH):
            b = idx[start:start + BATCH]
            c0 = time.process_time()
            out[start:start + len(b)] = attack(ctx.x[b], ctx.y[b])
            spent = time.process_time() - c0
            cost[b] += spent * attack.queries.double() / attack.queries.sum()
            queries[b] = attack.queries
    return ctx.record(name, idx[ctx.broken_by(out, idx)], cost, clock.cpu, clock.wall, attack.describe(),
                      {"queries": queries.tolist()})


AUTOATTACK = ("apgd-ce", "apgd-t", "fab-t", "square")


def run_autoattack(ctx: Context, name: str, spec: dict) -> Record:
    """torchattacks' AutoAttack components in its order (``spec["components"]``: a subset), each on
    the inputs still robust."""
    import torchattacks as ta

    eps, native, steps, queries = ctx.eps, ctx.native, spec.get("steps", 100), spec.get("queries", 5000)
    components = [
        ("apgd-ce", ta.APGD(native, norm="Linf", eps=eps, steps=steps, n_restarts=1, loss="ce", seed=ctx.seed)),
        ("apgd-t", ta.APGDT(native, norm="Linf", eps=eps, steps=steps, n_restarts=1, n_classes=10, seed=ctx.seed)),
        ("fab-t", ta.FAB(native, norm="Linf", eps=eps, steps=steps, n_restarts=1, multi_targeted=True, n_classes=10,
                         seed=ctx.seed)),
        ("square", ta.Square(native, norm="Linf", eps=eps, n_queries=queries, n_restarts=1, p_init=0.8,
                             seed=ctx.seed)),
    ]
    components = [(c, a) for c, a in components if c in spec.get("components", AUTOATTACK)]
    alive, cost = ctx.correct_idx(), torch.zeros(ctx.n)
    broken, per = [], {}
    with Clock() as clock:
        for comp, attack in components:
            if not len(alive):
                per[comp] = {"attacked": 0, "broke": 0, "cpu_s": 0.0}
                continue
            with Clock() as part:
                x_adv = in_batches(ctx, lambda xb, yb: attack(xb, yb), alive, cost)
            fooled = ctx.broken_by(x_adv, alive)
            per[comp] = {"attacked": len(alive), "broke": int(fooled.sum()), "cpu_s": round(part.cpu, 3)}
            broken.append(alive[fooled])
            alive = alive[~fooled]
    return ctx.record(name, torch.cat(broken) if broken else alive[:0], cost, clock.cpu, clock.wall,
                      {"components": [c for c, _ in components], "steps": steps, "targets": 9,
                       "square_queries": queries},
                      {"components": per})


def run_standard(ctx: Context, name: str) -> Record:
    with Clock() as clock:
        result = sa.standard_evaluation(ctx.model, ctx.x, ctx.y, eps=ctx.eps, norm="Linf", version="standard",
                                        seed=ctx.seed, train_data=ctx.train_dataset())
    own_correct = torch.tensor([r.clean_pred == r.label for r in result.records])
    robust = torch.tensor([r.robust for r in result.records])
    broken = (own_correct & ~robust).nonzero().squeeze(1)
    cost = torch.zeros(ctx.n)
    cost[own_correct] = clock.cpu / max(int(own_correct.sum()), 1)
    extra = {"stages": [asdict(s) for s in result.stages], "hart_gamma": result.hart_gamma,
             "robust_accuracy": result.robust_accuracy, "clean_correct_own": own_correct.int().tolist(),
             "first_stage": [r.broken_by[0] if r.broken_by else -1 for r in result.records]}
    rec = ctx.record(name, broken, cost, clock.cpu, clock.wall, {"version": "standard"}, extra)
    if not ctx.stochastic:
        assert rec.clean_correct == own_correct.int().tolist(), "standard_evaluation disagrees on clean predictions"
    else:  # its own (one) sampling of the clean predictions
        rec.clean_correct = own_correct.int().tolist()
        rec.broken = [int(b) for b in (own_correct & ~robust).tolist()]
        rec.save(ctx.path(name))
    return rec


def run(ctx: Context, name: str, catalog: dict, save_adv: bool = False) -> Record:
    """Run ``name`` of ``catalog`` on ``ctx`` unless its record is cached."""
    cached = ctx.cached(name)
    if cached is not None and not (save_adv and not (ctx.folder / f"{name}.adv.pt").exists()):
        return cached
    spec = catalog[name]
    kind = spec["kind"]
    torch.manual_seed(ctx.seed)
    if kind == "attack":
        return run_attack(ctx, name, spec, save_adv)
    if kind == "targeted":
        return run_targeted(ctx, name, spec)
    if kind == "restart":
        return run_restart(ctx, name, spec, catalog)
    if kind == "warm":
        return run_warm(ctx, name, spec)
    if kind == "square":
        return run_square(ctx, name, spec)
    if kind == "autoattack":
        return run_autoattack(ctx, name, spec)
    if kind == "standard":
        return run_standard(ctx, name)
    raise ValueError(f"kind: unknown recipe kind {kind!r}")
