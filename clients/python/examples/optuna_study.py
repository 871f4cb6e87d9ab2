#!/usr/bin/env python3
"""An Optuna study driven through quantlab: which representation, bit width and learning rate give the best
accuracy for the fewest weight bytes?

Ask -> POST /experiments, tell <- the run's results. Two objectives (maximize test accuracy, minimize the compact
weight bytes) make it a multi-objective study (NSGA-II); the answer is its Pareto front. Several trials are in
flight at once, so every quantlab worker has something to train.

    QUANTLAB_URL=http://127.0.0.1:3000 python3 examples/optuna_study.py --trials 12

Runs with Debian's python3-optuna (3.1) and python3-requests; tqdm is not needed.
"""
import argparse
import os
import sys
from collections import deque

import optuna

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from quantlab_client import Client  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--parallel", type=int, default=2, help="trials in flight at once")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--model", default="mlp")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=2000)
    p.add_argument("--test-limit", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    ql = Client()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="quantlab-bits",
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(seed=args.seed, population_size=max(4, args.parallel * 2)),
    )

    def ask():
        trial = study.ask()
        kind = trial.suggest_categorical("kind", ["fixed", "dictionary"])
        bits = trial.suggest_int("bits", 2, 8)
        lr = trial.suggest_float("learning_rate", 1e-3, 0.3, log=True)
        run = ql.submit(
            {
                "name": f"optuna-{trial.number}",
                "dataset": args.dataset,
                "model": args.model,
                "representation": {"kind": kind, "bits": bits},
                "training": {"epochs": args.epochs, "learningRate": lr, "trainLimit": args.train_limit, "testLimit": args.test_limit, "seed": args.seed},
            }
        )
        return trial, run["id"]

    in_flight = deque()
    asked = 0
    print(f"{'trial':>5}  {'run':<26} {'repr':<13} {'lr':>8}  {'test acc':>8}  {'bytes':>7}  status")
    while asked < args.trials or in_flight:
        while asked < args.trials and len(in_flight) < args.parallel:
            in_flight.append(ask())
            asked += 1
        trial, run_id = in_flight.popleft()
        doc = ql.wait(run_id, progress=False)
        m = doc["metrics"]
        if doc["status"] == "completed":
            study.tell(trial, [m["testAccuracy"], m["weightBytes"]["compact"]])
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        pr = trial.params
        acc = f"{m['testAccuracy']:.4f}" if m.get("testAccuracy") is not None else "-"
        size = m["weightBytes"]["compact"] if m.get("weightBytes") else "-"
        print(f"{trial.number:>5}  {run_id:<26} {pr['kind'] + ':' + str(pr['bits']):<13} {pr['learning_rate']:>8.4f}  {acc:>8}  {size:>7}  {doc['status']}", flush=True)

    print("\nPareto front (accuracy vs weight bytes):")
    for t in sorted(study.best_trials, key=lambda t: t.values[1]):
        print(f"  trial {t.number:>2}  {t.params['kind']}:{t.params['bits']}  lr {t.params['learning_rate']:.4f}  test acc {t.values[0]:.4f}  {int(t.values[1])} bytes")


if __name__ == "__main__":
    main()
