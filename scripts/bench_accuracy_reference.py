#!/usr/bin/env python3
"""The references for the accuracy benchmark, on exactly the features our backbone extracted
(written by examples/bench_accuracy.rs):
- scikit-learn's logistic regression: `sklearn-logreg val_accuracy=X`;
- the seed recipe in PyTorch (a new nn.Linear, Adam lr 1e-3, batch 32 shuffled, 10 epochs,
  cross-entropy) over seeds 0–29, when torch is installed:
  `pytorch-head mean_val_accuracy=X min=… max=… runs=30`."""
import sys

from safetensors.numpy import load_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

data = load_file(sys.argv[1])
scaler = StandardScaler().fit(data["train_features"])
classifier = LogisticRegression(max_iter=5000).fit(scaler.transform(data["train_features"]), data["train_labels"])
accuracy = classifier.score(scaler.transform(data["val_features"]), data["val_labels"])
print(f"sklearn-logreg val_accuracy={accuracy:.4f}")

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
