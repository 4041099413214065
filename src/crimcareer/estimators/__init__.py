"""Public estimators, in the style of scikit-learn and lifelines: constructors take plain
parameters, ``fit`` returns the estimator, fitted results end in ``_``.

They depend on numpy, pandas, scipy, statsmodels and lifelines only (``NearestMatcher`` also on
scikit-learn), never on the study, the engine, the disclosure gate or the report: the study uses
them, not the other way round. Nothing they return has passed the disclosure gate.
"""

from crimcareer.estimators._checks import EstimatorInputError
from crimcareer.estimators.gbtm import GroupTrajectoryModel, bootstrap_shares, select_groups
from crimcareer.estimators.matching import ExactMatcher, NearestMatcher
from crimcareer.estimators.points import PointsScore, auc_with_ci, calibration_intercept_slope, delong_auc
from crimcareer.estimators.survival import AalenJohansen

__all__ = [
    "AalenJohansen",
    "EstimatorInputError",
    "ExactMatcher",
    "GroupTrajectoryModel",
    "NearestMatcher",
    "PointsScore",
    "auc_with_ci",
    "bootstrap_shares",
    "calibration_intercept_slope",
    "delong_auc",
    "select_groups",
]
