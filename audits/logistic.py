"""A small logistic regression (Newton / IRLS) for one or two coefficients.

The verbosity regression and the calibration map each fit at most two parameters on up to
millions of rows; a few Newton steps in numpy are exact, fast and add no dependency. A tiny
ridge keeps the fit finite when the data are perfectly separated (a judge that always picks
the longer answer), which would otherwise send the slope to infinity.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    intercept: bool = True,
    ridge: float = 1e-6,
    max_iter: int = 50,
) -> np.ndarray:
    """Coefficients of P(y=1) = sigmoid(b0 + b1 x) (or sigmoid(b1 x) without intercept).

    `y` may hold soft targets in [0, 1]. Returns [b0, b1] or [b1]. Raises ValueError on
    empty input.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) == 0:
        raise ValueError("logistic regression needs at least one row")
    design = np.column_stack([np.ones_like(x), x]) if intercept else x[:, None]
    beta = np.zeros(design.shape[1])
    penalty = ridge * len(x) * np.eye(design.shape[1])
    for _ in range(max_iter):
        p = sigmoid(design @ beta)
        w = np.maximum(p * (1 - p), 1e-12)
        gradient = design.T @ (y - p) - penalty @ beta
        hessian = (design * w[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta
