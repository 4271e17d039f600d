#!/usr/bin/env python3
"""The reference for the accuracy benchmark: scikit-learn's logistic regression on exactly the
features our backbone extracted (written by examples/bench_accuracy.rs).

Prints `sklearn-logreg val_accuracy=X`."""
import sys

from safetensors.numpy import load_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

data = load_file(sys.argv[1])
scaler = StandardScaler().fit(data["train_features"])
classifier = LogisticRegression(max_iter=5000).fit(scaler.transform(data["train_features"]), data["train_labels"])
accuracy = classifier.score(scaler.transform(data["val_features"]), data["val_labels"])
print(f"sklearn-logreg val_accuracy={accuracy:.4f}")
