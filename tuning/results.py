"""The results of a search, read from its oracle's records: every trial as a plain
dict, the best one (by default among those that meet the constraints), a printed
summary and a JSON one. keras-tuner's own ``get_best_hyperparameters`` and
``oracle.get_best_trials`` rank the same trials the same way (by ``score``)."""

from __future__ import annotations

import json
import os

from keras_tuner.engine.trial import TrialStatus

from snnkit.exceptions import SnnkitError
from snnkit.utils.files import atomic_write
from snnkit.utils.text_table import text_table

from . import distributed


class SearchResults:
    """Mixin of :class:`~snnkit.tuning.tuner.SnnSearch`: reading its records."""

    def trials(self) -> list[dict]:
        """Every recorded trial, in the order they started.

        Returns
        -------
        list of dict
            ``trial_id``, ``status`` (COMPLETED, FAILED, RUNNING, ...),
            ``hyperparameters``, ``metrics`` (empty unless completed), ``score`` and
            ``reason`` (why it failed).
        """
        oracle = self._local_oracle("trials")
        records = []
        for trial_id in sorted(oracle.trials, key=int):
            trial = oracle.trials[trial_id]
            metrics = {name: trial.metrics.get_last_value(name)
                       for name in trial.metrics.metrics}
            records.append({
                "trial_id": trial.trial_id,
                "status": trial.status,
                "hyperparameters": {
                    k: v for k, v in trial.hyperparameters.values.items()},
                "metrics": metrics,
                "score": trial.score,
                "reason": _reason(trial.message) if trial.status != "COMPLETED" else None,
            })
        return records

    def best_trial(self, *, require_feasible: bool = True) -> dict:
        """The completed trial with the best score.

        Parameters
        ----------
        require_feasible : bool
            Only among trials that meet the constraints (the default).

        Returns
        -------
        dict
            The trial, as :meth:`trials` gives it.

        Raises
        ------
        SnnkitError
            If there is no such trial.
        """
        done = [t for t in self.trials() if t["status"] == "COMPLETED"
                and (not require_feasible or t["metrics"].get("feasible", 1.0) > 0)]
        if not done:
            statuses = ", ".join(
                f"{t['trial_id']}: {t['status']}" + (
                    " but breaks the constraints"
                    if t["status"] == "COMPLETED" and t["metrics"].get("feasible") == 0
                    else "") for t in self.trials())
            raise SnnkitError(
                "best_trial: no completed trial"
                + (" meets the constraints" if require_feasible else "")
                + f" ({statuses or 'no trials yet'})")
        sign = 1 if self.objective.goal == "max" else -1
        return max(done, key=lambda t: sign * t["score"])

    def best_hyperparameters_dict(self) -> dict:
        return self.best_trial()["hyperparameters"]

    def best_metrics(self) -> dict:
        return self.best_trial()["metrics"]

    def best_network(self):
        """The best configuration as a :class:`~snnkit.FrozenNetwork`."""
        raise NotImplementedError

    def export_best(self, path):
        """Write :meth:`best_network` to ``path`` (atomically).

        Returns
        -------
        Path
            The path.
        """
        return self.best_network().save(path)

    def summary_dict(self) -> dict:
        """JSON-ready: objective, counts, the best trial and every trial."""
        records = self.trials()
        try:
            best = self.best_trial()
        except SnnkitError:
            best = None
        counts = {}
        for t in records:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        return {"objective": self.objective.describe(), "oracle": self.oracle_name,
                "project_dir": self.project_dir, "counts": counts, "best": best,
                "trials": records}

    def write_summary(self, path) -> str:
        """Write :meth:`summary_dict` as JSON, atomically.

        Returns
        -------
        str
            The path.
        """
        with atomic_write(path, "w") as f:
            json.dump(self.summary_dict(), f, indent=2, default=float)
        return os.fspath(path)

    def results_summary(self, num_trials: int = 10) -> str:
        """Print (and return) the best trials, then every failed or unfinished one.

        The best ``num_trials`` trials with their figures, in the order of
        keras-tuner's ``get_best_hyperparameters``, then every failed or unfinished
        trial with its reason. Replaces keras-tuner's summary, which shows only the
        score of each trial.

        Parameters
        ----------
        num_trials : int
            How many of the best trials to show.

        Returns
        -------
        str
            The text printed.
        """
        records = {t["trial_id"]: t for t in self.trials()}
        # keras-tuner's ranking (the one get_best_hyperparameters uses): by score,
        # where a trial that breaks a constraint scores below every one that meets it
        done = [records[trial.trial_id]
                for trial in self.oracle.get_best_trials(len(records))
                if trial.status == TrialStatus.COMPLETED]
        failed = [t for t in records.values() if t["status"] != TrialStatus.COMPLETED]
        lines = [f"Search in {self.project_dir}: {self.objective.describe()}",
                 f"oracle {self.oracle_name}; {len(done)} completed, "
                 f"{len(failed)} failed or unfinished, of max_trials {self.max_trials}"]
        rows = [("trial", "score", "accuracy", "synops/input", "decision", "min rate",
                 "sat", "ok", "configuration")]
        nan = float("nan")
        for t in done[:num_trials]:
            m = t["metrics"]
            config = " ".join(f"{k}={_fmt(v)}" for k, v in t["hyperparameters"].items()
                              if not k.startswith("tuner/"))
            rows.append((t["trial_id"], f"{t['score']:.4g}",
                         f"{m.get('accuracy', nan):.4f}",
                         f"{m.get('synaptic_ops', nan):.4g}",
                         f"{m.get('time_to_decision_steps', nan):.2f}",
                         f"{m.get('min_rate_hz', nan):.1f}Hz",
                         f"{m.get('max_saturated_fraction', nan):.3f}",
                         "yes" if m.get("feasible", 1) > 0 else "no", config))
        lines += text_table(rows, ">>>>>>>><", sep=" ", rule="line")
        for t in failed:
            lines.append(f"{t['trial_id']} {t['status']}: {t['reason']}")
        text = "\n".join(lines)
        print(text)
        return text

    # --- helpers -----------------------------------------------------------------
    def _local_oracle(self, what):
        if distributed.is_worker():
            raise SnnkitError(
                f"{what}: a distributed worker does not hold the search's records; "
                "ask the chief (its directory has every trial)")
        return self.oracle


def _reason(message) -> str:
    if not message:
        return "no reason recorded (the trial did not finish)"
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":")[0]
        if "Error" in head or "Exception" in head:
            kind, _, text = line.strip().partition(":")
            return f"{kind.rsplit('.', 1)[-1]}:{text}"
    return lines[-1].strip()


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
