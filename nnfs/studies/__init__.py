"""The studies: each classic claim about neural networks with a measurable criterion, and the
verdict computed from the runs of its sweep (``experiments/experiment/<name>.yaml``).

Three pure layers, so that every verdict can be recomputed and tested without MLflow:

- ``extra_metrics(study, net, data, history)``: the few numbers a plain run does not log
  (distance to the least-squares solution, gradients on confidently wrong predictions, the
  parameter count); the app logs them as ``final/*`` metrics of the run.
- ``derive(study, frame, histories)``: columns read off the per-epoch curves (epochs to a target,
  the loss at the first and last epoch, the gradient-norm ratio at epoch 1), added to the tidy run
  table of ``nnfs.report.load.runs_frame``.
- ``verdicts(study, frame)``: one verdict per claim, ``{claim, verdict, measured, runs}`` with
  ``verdict`` in ``VERDICTS``; the numbers are means ± standard deviations over seeds.

Spread rule used by every criterion: "clearly above t" means mean − std >= t, "clearly below t"
means mean + std <= t, "A clearly beats B" means their one-std bands do not overlap. A group with
fewer than ``MIN_SEEDS`` runs, or a metric that was not logged, gives "inconclusive".

Layout: ``stats`` (verdict words, the spread rule, run selection, curve readers), ``metrics``
(the extra per-run metrics), ``judges_linear`` and ``judges_training`` (one function per claim),
``registry`` (the studies, their claims and criteria; ``verdicts`` and ``derive``).
"""

from nnfs.studies.metrics import extra_metrics, least_squares_metrics, wrong_prediction_grads
from nnfs.studies.registry import NAMES, STUDIES, Claim, Study, derive, get, verdicts
from nnfs.studies.stats import (
    FAILS,
    HOLDS,
    MIN_SEEDS,
    UNSURE,
    VERDICTS,
    Missing,
    Stat,
    clearly_above,
    clearly_below,
    clearly_greater,
    first_epoch,
    stat,
)

__all__ = ["FAILS", "HOLDS", "MIN_SEEDS", "NAMES", "STUDIES", "UNSURE", "VERDICTS", "Claim",
           "Missing", "Stat", "Study", "clearly_above", "clearly_below", "clearly_greater",
           "derive", "extra_metrics", "first_epoch", "get", "least_squares_metrics", "stat",
           "verdicts", "wrong_prediction_grads"]
