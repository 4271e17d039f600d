#!/usr/bin/env python3
"""The references for the accuracy benchmark, on exactly the features our backbone extracted
(written by examples/bench_accuracy.rs):
- scikit-learn's logistic regression: `sklearn-logreg val_accuracy=X`;
- scikit-learn's `LogisticRegression` and `LinearSVC` with C chosen as our fitted classifiers
  choose it (src/train/linear_fit.rs: the same grid, the same stratified folds, pooled held-out
  accuracy, the first best C): `sklearn-logistic_regression-cv val_accuracy=X c=C cv_accuracy=A`
  and `sklearn-linear_svm-cv …`;
- temperature scaling of our seed-0 head's validation logits with SciPy (the negative
  log-likelihood minimised over T in [0.05, 20]; with every image right, the T whose mean
  confidence is (n + 1) / (n + 2)) and the expected calibration error in 15 equal
  bins, as src/metrics/calibration.rs computes them:
  `scipy-temperature temperature=T fit=F ece_before=E ece_after=E`, and the same with `T` fitted
  on every other validation image and measured on the rest (`held_out`);
- the seed recipe in PyTorch (a new nn.Linear, Adam lr 1e-3, batch 32 shuffled, 10 epochs,
  cross-entropy) over seeds 0–29, when torch is installed:
  `pytorch-head mean_val_accuracy=X min=… max=… runs=30`."""
import sys

import numpy as np
from safetensors.numpy import load_file
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.preprocessing import StandardScaler

data = load_file(sys.argv[1])
scaler = StandardScaler().fit(data["train_features"])
classifier = LogisticRegression(max_iter=5000).fit(scaler.transform(data["train_features"]), data["train_labels"])
accuracy = classifier.score(scaler.transform(data["val_features"]), data["val_labels"])
print(f"sklearn-logreg val_accuracy={accuracy:.4f}")

C_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4]
train_x, val_x = scaler.transform(data["train_features"]), scaler.transform(data["val_features"])
train_y, val_y = data["train_labels"], data["val_labels"]
# The r-th training example of a class is in fold r mod folds (folds: 5, or the smallest class).
ranks = np.zeros(len(train_y), dtype=int)
for label in np.unique(train_y):
    ranks[train_y == label] = np.arange((train_y == label).sum())
folds = min(5, int(np.bincount(train_y).min()))
fold_of = ranks % folds
models = {
    "logistic_regression": lambda c: LogisticRegression(C=c, tol=1e-8, max_iter=100000),
    "linear_svm": lambda c: LinearSVC(C=c, tol=1e-8, max_iter=1000000),
}
for name, make in models.items():
    correct = []
    for c in C_GRID:
        hits = 0
        for fold in range(folds):
            kept, held = fold_of != fold, fold_of == fold
            hits += int((make(c).fit(train_x[kept], train_y[kept]).predict(train_x[held]) == train_y[held]).sum())
        correct.append(hits)
    best = int(np.argmax(correct))
    accuracy = make(C_GRID[best]).fit(train_x, train_y).score(val_x, val_y)
    print(f"sklearn-{name}-cv val_accuracy={accuracy:.4f} c={C_GRID[best]:g} cv_accuracy={correct[best] / len(train_y):.4f}")

from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_softmax, softmax


def ece(logits, labels, temperature, bins=15):
    probabilities = softmax(logits / temperature, axis=1)
    confidence, right = probabilities.max(1), probabilities.argmax(1) == labels
    error = 0.0
    for low, high in zip(np.arange(bins) / bins, np.arange(1, bins + 1) / bins):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return error


val_logits = data["val_logits"].astype(np.float64)
nll = lambda t: -log_softmax(val_logits / t, axis=1)[np.arange(len(val_y)), val_y].mean()
if (val_logits.argmax(1) == val_y).all():
    # Every image right: the mean confidence set to the rule of succession's (n + 1) / (n + 2).
    vouched = (len(val_y) + 1) / (len(val_y) + 2)
    fitted, fit = brentq(lambda t: softmax(val_logits / t, axis=1).max(1).mean() - vouched, 0.05, 20.0, xtol=1e-9), "all_right"
else:
    fitted = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-6}).x
    fit = "likelihood"
print(f"scipy-temperature temperature={fitted:.3f} fit={fit} ece_before={ece(val_logits, val_y, 1.0):.4f} ece_after={ece(val_logits, val_y, fitted):.4f}")
# Held out: T fitted on every other validation image, the ECE of the rest (both ways, pooled).
if fit == "likelihood":
    held_before, held_after = [], []
    for part in (0, 1):
        fit_rows, test_rows = np.arange(len(val_y)) % 2 == part, np.arange(len(val_y)) % 2 != part
        half_nll = lambda t: -log_softmax(val_logits[fit_rows] / t, axis=1)[np.arange(fit_rows.sum()), val_y[fit_rows]].mean()
        half = minimize_scalar(half_nll, bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-6}).x
        held_before.append(ece(val_logits[test_rows], val_y[test_rows], 1.0))
        held_after.append(ece(val_logits[test_rows], val_y[test_rows], half))
    print(f"scipy-temperature held_out ece_before={np.mean(held_before):.4f} ece_after={np.mean(held_after):.4f} (fitted on one half, measured on the other, both ways)")

try:
    import torch
except ImportError:
    print("pytorch-head skipped: torch is not installed")
    sys.exit(0)
torch.set_num_threads(2)
features, labels = torch.from_numpy(data["train_features"]), torch.from_numpy(data["train_labels"]).long()
val_features, val_labels = torch.from_numpy(data["val_features"]), torch.from_numpy(data["val_labels"]).long()
accuracies = []
for seed in range(30):
    torch.manual_seed(seed)
    head = torch.nn.Linear(features.shape[1], int(labels.max()) + 1)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    for epoch in range(10):
        order = torch.randperm(len(features))
        for start in range(0, len(features), 32):
            picked = order[start:start + 32]
            loss = torch.nn.functional.cross_entropy(head(features[picked]), labels[picked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        accuracies.append((head(val_features).argmax(1) == val_labels).float().mean().item())
mean = sum(accuracies) / len(accuracies)
print(f"pytorch-head mean_val_accuracy={mean:.4f} min={min(accuracies):.4f} max={max(accuracies):.4f} runs={len(accuracies)}")
