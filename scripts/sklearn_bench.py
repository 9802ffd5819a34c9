"""scikit-learn's fits on the same training matrix and hyper-parameters as boltfleet's.

`cargo bench -p shared --bench train` writes the 5,000-bar training matrix to
target/bench-train-5000.csv; this fits scikit-learn's RandomForestClassifier,
GradientBoostingClassifier and HistGradientBoostingClassifier on it, both cores where the
estimator can use them, and prints the median of 3 fits. Results: docs/benchmarks.md.

    python3 -m venv .venv-bench && .venv-bench/bin/pip install scikit-learn pandas
    .venv-bench/bin/python scripts/sklearn_bench.py target/bench-train-5000.csv
"""

import statistics
import sys
import time

import pandas as pd
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)


def median_seconds(make, x, y, runs=3):
    times = []
    for _ in range(runs):
        model = make()
        start = time.perf_counter()
        model.fit(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(path):
    frame = pd.read_csv(path)
    y = frame.pop("label").to_numpy()
    x = frame.to_numpy()
    print(f"{x.shape[0]} rows x {x.shape[1]} features")
    estimators = {
        "RandomForestClassifier (200 trees, depth 15, split 10, leaf 5, balanced, n_jobs=2)": lambda: RandomForestClassifier(
            n_estimators=200,
            max_depth=15,
            min_samples_split=10,
            min_samples_leaf=5,
            class_weight="balanced",
            n_jobs=2,
            random_state=42,
        ),
        "GradientBoostingClassifier (100 stages, lr 0.05, depth 7, leaf 5; single-threaded)": lambda: GradientBoostingClassifier(
            n_estimators=100, learning_rate=0.05, max_depth=7, min_samples_leaf=5, random_state=42
        ),
        "HistGradientBoostingClassifier (100 iterations, lr 0.05, depth 7, leaf 5, 2 threads)": lambda: HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.05, max_depth=7, min_samples_leaf=5, early_stopping=False, random_state=42
        ),
    }
    for name, make in estimators.items():
        print(f"{name}: {median_seconds(make, x, y):.3f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench-train-5000.csv")
