"""Training loop of the encoding models: AdamW, masked loss, early stopping, seeds, resume.

* **Loss.**  Mean squared error against the trial-averaged (smoothed) response, per
  neuron over the bins of its heard pairs in the batch (``ClipData.mask``), summed over
  neurons.  A neuron's gradient therefore depends on its own heard pairs only, in the
  same way whether or not other neurons heard other stimuli.
* **Batches.**  Whole clips (``batch_clips`` per step, 0 = every training clip in one
  step); the order is drawn from a generator seeded by ``seed``.
* **Early stopping.**  After every epoch the validation clips are predicted; the score
  is the mean over neurons of the validation correlation (CCabs against the trial mean
  on the concatenated validation bins; for one neuron it ranks epochs exactly as its
  CCnorm does, and unlike CCnorm it is not dominated by neurons with a tiny, noisy
  CCmax).  The log's ``val_ccnorm`` is the median over neurons of CCabs / CCmax (CCmax
  by :func:`strflow.metrics.ccnorm_across_stimuli`, once).  The best epoch's parameters
  are restored at the end; training stops after ``patience`` epochs without
  improvement (``patience: 0`` = never).  Models whose every parameter belongs to one
  neuron (``linear``, ``ln`` without AdapTrans) keep each neuron's own best epoch, as the
  ridge picks each neuron's own penalty (``best_epoch`` is then the last epoch any neuron
  improved; patience counts epochs in which no neuron improved).  Where no
  neuron has a defined validation correlation, the validation loss decides.
  ``val_score: ccnorm`` scores the mean validation CCnorm instead (deepSTRF's reference
  criterion, used by the NS1 ``statenet`` protocol); per-neuron models rank each neuron's
  epochs by its CCabs either way (the same order).
* **Penalties.**  ``l2`` adds ``l2 * sum(w**2)`` over the weight tensors (2-D and up:
  not the biases, nor the LN sigmoid's numbers) to the loss, the ridge's penalty on a
  per-bin mean loss with unit-variance inputs (the ridge's chosen penalty divided by its
  number of training bins: ~0.1 on the ``recovery`` dataset, where 0.04-0.4 are chosen).
  Unset, it is the architecture's default (:data:`strflow.nn.spec.TRAIN_DEFAULTS`: linear
  and LN 0.1, NRF 0.01, others 0).
  Unlike early stopping alone it gives the linear model the ridge's shrinkage: on
  ``recovery`` Adam's unpenalised path peaks ~0.01 test CCnorm below the ridge fit and then
  overfits.  AdamW's ``weight_decay`` (decoupled, scale-dependent) also spares
  those one-dimensional parameters.
* **Refit** (``refit: true``, the default, with ``restore_best``).  Early stopping
  holds the validation clips out of training; the ridge fits use every training
  stimulus (their CV folds pick the penalty, then the fit uses them all).  So, once the
  best epoch is known, the model is trained again from the same initial parameters on
  the training *and* validation clips for that many epochs (per-neuron models: every
  neuron's parameters are taken at its own best epoch) and those parameters are
  returned.  Without it the model sees ~20 % fewer stimuli than the ridge (on the
  ``recovery`` dataset the refit moved the trained linear model from 0.982 to 0.985 test
  CCnorm; at a fixed epoch count the extra stimuli are worth 0.024).  The refit epochs are not in
  the log (it has no validation data); a job killed during the refit redoes it (it is
  deterministic) from the checkpoint of the last selection epoch.
* **Determinism.**  Initial parameters come from ``torch.manual_seed(seed)``; on CPU
  :func:`torch.use_deterministic_algorithms` is on while training, so two runs with
  the same seed, data and thread count give the same numbers.
* **Resume.**  With a ``checkpoint`` path, the full state (parameters, optimiser,
  generator, best state, log) is written atomically every ``checkpoint_every`` epochs
  with a fingerprint of the data and settings; a rerun with the same fingerprint
  continues from it (an interrupted job loses at most ``checkpoint_every`` epochs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from strflow.metrics import ccnorm_across_stimuli
from strflow.nn import zoo
from strflow.nn.data import ClipData
from strflow.store.atomic import atomic_path

log = logging.getLogger("strflow.nn")


class TrainingInterrupted(RuntimeError):
    """Raised by the ``stop_after`` test hook after the checkpoint of that epoch was written."""


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 80
    patience: int = 15
    lr: float = 1e-3
    weight_decay: float = 0.0
    l2: float | None = None  # penalty l2 * sum(w**2) over the weight tensors; None: the architecture's default
    batch_clips: int = 0  # whole clips per step; 0 = all training clips
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    checkpoint_every: int = 1
    restore_best: bool = True  # False: keep the last epoch's parameters
    refit: bool = True  # retrain on training + validation clips up to the best epoch (needs restore_best)
    val_score: str = "cc"  # early stopping on the mean validation "cc" (CCabs) or "ccnorm" (CCabs / CCmax)

    def __post_init__(self) -> None:
        if self.val_score not in ("cc", "ccnorm"):
            raise ValueError(f"val_score {self.val_score!r}: use 'cc' or 'ccnorm'")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "TrainSettings":
        cfg = dict(cfg or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}; known: {sorted(known)}")
        return cls(**cfg)


def with_arch_defaults(arch: str, settings: TrainSettings) -> TrainSettings:
    """``settings`` with the unset (None) fields filled from :data:`strflow.nn.spec.TRAIN_DEFAULTS`
    (``l2``: 0 where the architecture has no default)."""
    from dataclasses import replace

    from strflow.nn.spec import TRAIN_DEFAULTS

    fill = {k: v for k, v in TRAIN_DEFAULTS.get(arch, {}).items() if getattr(settings, k) is None}
    if settings.l2 is None and "l2" not in fill:
        fill["l2"] = 0.0
    return replace(settings, **fill) if fill else settings


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("models.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


@dataclass
class TrainResult:
    model: torch.nn.Module
    log: list[dict]
    best_epoch: int
    epochs: int
    stopped: str
    resumed_from: int = 0
    ccmax_val: np.ndarray = field(default_factory=lambda: np.zeros(0))
    refit_epochs: int = 0  # epochs of the refit on training + validation clips (0: none)


def masked_mse(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-neuron MSE over masked bins ``(N,)`` (NaN where a neuron has no bin) and the
    objective (sum over neurons that have bins)."""
    err = torch.where(mask, pred - y, torch.zeros((), dtype=pred.dtype, device=pred.device))
    count = mask.sum(dim=(0, 2))
    per = (err * err).sum(dim=(0, 2)) / count.clamp(min=1)
    has = count > 0
    return torch.where(has, per, torch.full_like(per, math.nan)), per[has].sum()


def masked_cc(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Per-neuron Pearson correlation over masked bins ``(N,)`` (NaN where undefined)."""
    m = mask.to(pred.dtype)
    n = m.sum(dim=(0, 2))
    mp = (m * pred).sum(dim=(0, 2)) / n.clamp(min=1)
    my = (m * y).sum(dim=(0, 2)) / n.clamp(min=1)
    dp = (pred - mp[None, :, None]) * m
    dy = (y - my[None, :, None]) * m
    cov = (dp * dy).sum(dim=(0, 2))
    den = torch.sqrt((dp * dp).sum(dim=(0, 2)) * (dy * dy).sum(dim=(0, 2)))
    cc = (cov / den).double().cpu().numpy()
    cc[~(den.double().cpu().numpy() > 0)] = np.nan
    return cc


def validation_ccmax(data: ClipData) -> np.ndarray:
    """CCmax of every neuron on the validation clips, by the metrics module's code."""
    val = data.index("val")
    out = np.full(data.n_neurons, np.nan)
    for n in range(data.n_neurons):
        blocks = [data.blocks[s][n] for s in val if data.blocks[s][n] is not None]
        if not blocks:
            continue
        # CCmax does not depend on the prediction; any non-constant one will do
        dummy = [np.arange(b.shape[1], dtype=float) for b in blocks]
        res = ccnorm_across_stimuli(dummy, blocks)
        out[n] = res.ccmax.value
    return out


def fingerprint(arch: str, options: dict, settings: TrainSettings, data: ClipData) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([arch, options, asdict(settings), data.roles, data.stim_ids, data.cell_ids],
                        sort_keys=True, default=str).encode())
    for t in (data.x, data.y, data.mask):
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _atomic_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW; weight decay on the weight tensors only (2-D and up), as the ridge penalises
    the STRF but not the intercept: biases, the LN sigmoid's four numbers per neuron,
    layer-norm gains and time constants are not shrunk towards zero."""
    keys = sorted({(getattr(p, "lr_scale", 1.0), p.ndim >= 2) for p in model.parameters()})
    groups = [dict(params=[p for p in model.parameters() if (getattr(p, "lr_scale", 1.0), p.ndim >= 2) == k],
                   lr=settings.lr * k[0], weight_decay=settings.weight_decay if k[1] else 0.0) for k in keys]
    return torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)


def _penalty(model: torch.nn.Module, l2: float):
    """``l2 * sum(w**2)`` over the weight tensors (2-D and up), or None."""
    if not l2:
        return None
    return l2 * sum((p * p).sum() for p in model.parameters() if p.ndim >= 2)


def _epoch(model, opt, gen, clips: list[int], bs: int, x, y, mask, l2: float = 0.0) -> tuple[float, int]:
    """One pass over ``clips`` in a random order, ``bs`` whole clips per step; returns the
    summed per-neuron training MSE and the number of terms."""
    model.train()
    order = torch.randperm(len(clips), generator=gen).tolist()
    total, weight = 0.0, 0
    for i in range(0, len(clips), bs):
        idx = [clips[j] for j in order[i:i + bs]]
        opt.zero_grad(set_to_none=True)
        per, objective = masked_mse(model(x[idx]), y[idx], mask[idx])
        pen = _penalty(model, l2)
        (objective if pen is None else objective + pen).backward()
        opt.step()
        ok = torch.isfinite(per)
        total += float(per.detach()[ok].sum())
        weight += int(ok.sum())
    return total, weight


def _refit(arch: str, options: dict, data: ClipData, settings: TrainSettings, device, x, y, mask,
           best_epochs: np.ndarray | int) -> dict[str, torch.Tensor]:
    """Parameters after training afresh (same seed) on the training and validation clips
    for ``best_epochs`` epochs (an int, or one per neuron for per-neuron models)."""
    torch.manual_seed(settings.seed)
    model = zoo.build(arch, data.n_bands, data.n_neurons, data.dt_ms, options).to(device)
    opt = _optimizer(model, settings)
    gen = torch.Generator().manual_seed(settings.seed)
    clips = data.index("train") + data.index("val")
    bs = len(clips) if settings.batch_clips <= 0 else min(settings.batch_clips, len(clips))
    per_neuron = np.ndim(best_epochs) > 0
    target = np.asarray(best_epochs, dtype=int)
    out = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    for epoch in range(1, int(target.max()) + 1):
        _epoch(model, opt, gen, clips, bs, x, y, mask, settings.l2)
        hit = np.flatnonzero(target == epoch) if per_neuron else ([0] if epoch == int(target) else [])
        if len(hit) == 0:
            continue
        current = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if per_neuron:
            idx = torch.from_numpy(hit)
            for k, v in current.items():
                out[k][idx] = v[idx]
        else:
            out = current
    return out


def train(arch: str, options: dict | None, data: ClipData, settings: TrainSettings = TrainSettings(),
          checkpoint: str | Path | None = None, stop_after: int | None = None, progress=_stderr_progress,
          name: str | None = None) -> TrainResult:
    """Train one model (architecture ``arch``, hyperparameters ``options``) on ``data``."""
    options = zoo.resolve(arch, options)
    settings = with_arch_defaults(arch, settings)
    device = pick_device(settings.device)
    train_idx, val_idx = data.index("train"), data.index("val")
    if not train_idx or not val_idx:
        raise ValueError("need training and validation clips")
    fp = fingerprint(arch, options, settings, data)
    det_before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(settings.seed)
        model = zoo.build(arch, data.n_bands, data.n_neurons, data.dt_ms, options).to(device)
        opt = _optimizer(model, settings)
        gen = torch.Generator().manual_seed(settings.seed)
        x, y, mask = data.x.to(device), data.y.to(device), data.mask.to(device)
        xv, yv, mv = x[val_idx], y[val_idx], mask[val_idx]
        ccmax = validation_ccmax(data)
        state = dict(epoch=0, best_score=-math.inf, best_epoch=0, best_state=None, bad=0, log=[])
        resumed_from = 0
        ckpt = Path(checkpoint) if checkpoint else None
        if ckpt is not None and ckpt.is_file():
            saved = torch.load(ckpt, map_location="cpu", weights_only=False)  # the optimiser moves its state
            if saved.get("fingerprint") == fp:
                model.load_state_dict(saved["model"])
                opt.load_state_dict(saved["optimizer"])
                gen.set_state(saved["generator"])
                state = saved["state"]
                resumed_from = state["epoch"]
                log.info("%s: resumed from the checkpoint of epoch %d (%s)", name or arch, resumed_from, ckpt)
                if progress is not None:
                    progress(f"[{name or arch}] resumed from checkpoint at epoch {resumed_from}")
            else:
                log.warning("%s: checkpoint %s belongs to other data or settings; starting afresh", name or arch, ckpt)
        n_train = len(train_idx)
        # every parameter indexed by neuron first: each neuron's parameters are its own
        separable = model.per_neuron and data.n_neurons > 1  # declared by the architecture, not guessed from shapes
        bs = n_train if settings.batch_clips <= 0 else min(settings.batch_clips, n_train)
        stopped = "max_epochs"
        while state["epoch"] < settings.epochs:
            if settings.patience > 0 and state["bad"] >= settings.patience:
                stopped = "early_stopping"
                break
            t0 = time.perf_counter()
            total, weight = _epoch(model, opt, gen, train_idx, bs, x, y, mask, settings.l2)
            model.eval()
            with torch.no_grad():
                pv = model(xv)
                per_v, _ = masked_mse(pv, yv, mv)
                cc = masked_cc(pv, yv, mv)
            val_loss = float(np.nanmean(per_v.cpu().numpy()))
            ccn = cc / ccmax
            ccn_ok = np.isfinite(ccn)
            val_ccnorm = float(np.median(ccn[ccn_ok])) if ccn_ok.any() else math.nan
            cc_ok = np.isfinite(cc)
            use_cc = bool(cc_ok.any())
            # the score is the mean validation correlation (CCabs): dividing by CCmax first would
            # let a neuron with a tiny, noisy CCmax dominate the mean (NS1 has such neurons)
            # (val_score ccnorm: the mean over neurons with a CCnorm, deepSTRF's reference criterion)
            if settings.val_score == "ccnorm" and ccn_ok.any():
                score = float(ccn[ccn_ok].mean())
            else:
                score = float(cc[cc_ok].mean()) if use_cc else -val_loss
            state["epoch"] += 1
            if not math.isfinite(score):
                score = -math.inf
            current = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if separable and use_cc:
                # per-neuron models (linear, ln): every neuron keeps its own best epoch
                # (patience counts epochs in which no neuron improved)
                per_score = np.where(cc_ok, cc, -np.inf)  # per neuron, CCabs ranks epochs as CCnorm does
                if state["best_state"] is None:
                    state.update(best_state=current, best_per=per_score, best_epoch=state["epoch"],
                                 best_epoch_per=np.full(data.n_neurons, state["epoch"]))
                better = per_score > state["best_per"]
                if better.any():
                    idx = torch.from_numpy(np.flatnonzero(better))
                    for k, v in current.items():
                        state["best_state"][k][idx] = v[idx]
                    state["best_per"] = np.where(better, per_score, state["best_per"])
                    state["best_epoch_per"] = np.where(better, state["epoch"], state["best_epoch_per"])
                    state.update(best_epoch=state["epoch"], bad=0)
                else:
                    state["bad"] += 1
                state["best_score"] = max(state["best_score"], score)
            elif score > state["best_score"] or state["best_state"] is None:
                state.update(best_score=score, best_epoch=state["epoch"], bad=0, best_state=current)
            else:
                state["bad"] += 1
            row = dict(epoch=state["epoch"], train_loss=total / max(weight, 1), val_loss=val_loss,
                       val_ccnorm=val_ccnorm, seconds=time.perf_counter() - t0)
            state["log"].append(row)
            msg = (f"[{name or arch}] epoch {row['epoch']}/{settings.epochs} train {row['train_loss']:.5f} "
                   f"val {val_loss:.5f} val CCnorm {val_ccnorm:.3f} ({row['seconds']:.2f} s)")
            log.debug(msg)  # the progress line (stderr: terminal and, in a rule, its log)
            if progress is not None:
                progress(msg)
            last = state["epoch"] == settings.epochs
            if ckpt is not None and (state["epoch"] % max(settings.checkpoint_every, 1) == 0 or last
                                     or state["epoch"] == stop_after):
                _atomic_save(dict(fingerprint=fp, model=model.state_dict(), optimizer=opt.state_dict(),
                                  generator=gen.get_state(), state=state), ckpt)
            if stop_after is not None and state["epoch"] == stop_after:
                raise TrainingInterrupted(f"stopped after epoch {stop_after} (test hook)")
        if stopped != "early_stopping" and settings.patience > 0 and state["bad"] >= settings.patience:
            stopped = "early_stopping"
        refit_epochs = 0
        if settings.restore_best and settings.refit:
            best = state["best_epoch_per"] if "best_epoch_per" in state else state["best_epoch"]
            refit_epochs = int(np.max(best))
            if progress is not None:
                progress(f"[{name or arch}] refit on the training and validation clips: {refit_epochs} epochs")
            model.load_state_dict(_refit(arch, options, data, settings, device, x, y, mask, best))
        elif settings.restore_best:
            model.load_state_dict(state["best_state"])
        else:
            state["best_epoch"] = state["epoch"]
        model.eval()
        return TrainResult(model.cpu(), state["log"], state["best_epoch"], state["epoch"], stopped, resumed_from,
                           ccmax, refit_epochs)
    finally:
        if device.type == "cpu":
            torch.use_deterministic_algorithms(det_before)
