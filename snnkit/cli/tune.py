"""The ``tune`` subcommand: a search from a JSON configuration
(:mod:`snnkit.tuning.config`), local, chief or worker; also ``python -m snnkit.tuning``.

While it runs it prints one line per finished trial on stderr (its number out of
``max_trials``, status, score, the best score so far, time elapsed) under a progress
bar; ``--quiet`` turns both off. keras-tuner's own display stays off.
"""

from __future__ import annotations

import sys
import time

from snnkit.cli import arguments as A
from snnkit.cli.output import emit, progress


def main(argv=None) -> int:
    """``python -m snnkit.tuning CONFIG.json [...]``: this subcommand on its own."""
    from snnkit.cli import declared

    parser = A.Parser(prog="python -m snnkit.tuning",
                      description=declared.declarations()["command"]["tune"]["description"])
    declared.add_options(parser, "tune")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    args = parser.parse_args(argv)
    return A.run_reporting_errors("tune", run, args)


def run(args) -> int:
    """Delegates to snnkit.tuning's configuration runner.

    Its owner documents the JSON format in :mod:`snnkit.tuning.config`
    (``tuning/config.py``).
    """
    config = A.input_file(args.config, "config", (".json",))
    from snnkit.utils.stack import import_tensorflow

    import_tensorflow()  # keras-tuner imports it: let it start quietly
    from snnkit.tuning.config import run_chief, run_search, run_worker, with_objective
    from snnkit.tuning.pareto_files import write_pareto_files

    config = with_objective(str(config), args.objective)
    report = TrialReport(enabled=progress(args))
    try:
        if args.chief:
            search = run_chief(config, address=args.address or "0.0.0.0",
                               port=args.port, expected_workers=args.workers)
        elif args.worker:
            if not args.address:
                raise A.error("--address: a worker needs the chief's address, got none")
            run_worker(config, address=args.address, port=args.port,
                       worker_id=args.worker_id, chief_timeout_s=args.chief_timeout,
                       on_trial_end=report)
            emit(args, {"command": "tune", "role": "worker",
                        "trials_run": report.count})
            return 0
        else:
            search = run_search(config, on_trial_end=report)
    finally:
        report.close()
    files = write_pareto_files(search)
    for path in files:
        print(f"wrote {path}")
    emit(args, {"command": "tune", "role": "chief" if args.chief else "local",
                **search_document(search, config), "files": files})
    return 0


class TrialReport:
    """``on_trial_end(search, trial)``: one line per trial on stderr, and a bar.

    Parameters
    ----------
    enabled : bool
        Print anything at all.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.start = time.monotonic()
        self.count = 0  # trials this process ran
        self.bar = None

    def __call__(self, search, trial) -> None:
        self.count += 1
        if not self.enabled:
            return
        done = _finished_trials(search)
        total = search.max_trials
        number = done if done is not None else self.count
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=max(number - 1, 0), unit="trial",
                            desc="trials", file=sys.stderr, leave=False)
        self.bar.update(1)
        self.bar.write(self.line(search, trial, number, total), file=sys.stderr)

    def line(self, search, trial, number: int, total: int) -> str:
        """The line for ``trial``, the ``number``-th of ``total`` to end."""
        recorded = search.oracle.get_trial(trial.trial_id)
        status = str(recorded.status)
        if status == "COMPLETED" and recorded.score is not None:
            what = f"score {_value(recorded.score)}"
        else:
            reason = (recorded.message or "").strip().splitlines()
            what = status + (f" ({reason[-1][:120]})" if reason else "")
        best = search.oracle.get_best_trials(1)
        best_text = _value(best[0].score) if best and best[0].score is not None \
            else "none yet"
        elapsed = _elapsed(time.monotonic() - self.start)
        return (f"trial {number}/{total} (id {trial.trial_id}): {what}; best so far "
                f"{best_text} ({search.objective.describe()}); {elapsed} elapsed")

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _finished_trials(search) -> int | None:
    """Trials of the search that have ended (earlier runs' included); None for a
    worker, whose oracle is the chief's."""
    try:
        trials = search.oracle.trials
    except AttributeError:
        return None
    if not isinstance(trials, dict):
        return None
    return sum(str(t.status) in ("COMPLETED", "FAILED") for t in trials.values())


def _value(score) -> str:
    return f"{score:.4g}"


def _elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def search_document(search, config: dict) -> dict:
    """What a search produced, for ``--json``: its summary (objective, counts, the
    best trial, every trial) and the files its configuration wrote.

    Parameters
    ----------
    search : SnnSearch
    config : dict
        Its configuration.

    Returns
    -------
    dict
    """
    return dict(search.summary_dict(), max_trials=search.max_trials,
                export=config.get("export"), summary=config.get("summary"))
