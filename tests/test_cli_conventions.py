"""One convention on every command (``snnkit.cli.output``): ``-q`` (no progress),
``-v``/``-vv``/``SNNKIT_VERBOSE`` (the ``snnkit`` log on stderr), ``--json`` (one JSON
document on stdout, text for people on stderr); ``tune`` reports each trial; a closed
output pipe ends quietly with status 141; old spellings of renamed options and
arguments still work for one release, with a note."""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys

import pytest
from cli_networks import run_cli as _run
from cli_networks import tiny_keras as _tiny_keras

from snnkit import FrozenNetwork
from snnkit.cli import build_parser, declared, output
from snnkit.convert.freeze import from_keras

METADATA = {"trained_on": "nothing", "rates_hz": {"conv0": 12.5}, "nested": [1, [2, 3]]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny untrained network (Loihi neurons, every layer spiking) with metadata, as
    a FrozenNetwork file and as a Keras .h5 file."""
    root = tmp_path_factory.mktemp("conventions")
    model = _tiny_keras()
    model.save(root / "tiny.h5")
    from_keras(model, neuron_type="loihi-relu", synapse=0.005, metadata=METADATA,
               scale_firing_rates={"to-spikes": 1, "conv0": 100, "dense0": 100},
               ).save(root / "tiny.snn.npz")
    return root




def _subparsers() -> dict:
    parser = build_parser()
    return next(a for a in parser._actions
                if isinstance(a, argparse._SubParsersAction)).choices


# --- -q / -v / --json on every command --------------------------------------------
@pytest.mark.parametrize("command", declared.command_names())
def test_every_command_takes_quiet_verbose_and_json(command):
    parser = _subparsers()[command]
    flags = {flag for action in parser._actions for flag in action.option_strings}
    assert {"-q", "--quiet", "-v", "--verbose", "--json"} <= flags
    assert "--json" in parser.format_help() and "-v, --verbose" in parser.format_help()


def test_verbosity_counts_and_quiet_excludes_verbose(capsys):
    parse = build_parser().parse_args
    assert parse(["backends"]).verbose == 0
    assert parse(["backends", "-vv"]).verbose == 2
    assert parse(["backends", "-q"]).quiet is True
    with pytest.raises(SystemExit) as exit_:
        parse(["backends", "-q", "-v"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("verbose, env, level", [
    (0, None, None), (1, None, logging.INFO), (2, None, logging.DEBUG),
    (0, "1", logging.INFO), (0, "2", logging.DEBUG), (2, "1", logging.DEBUG),
    (0, "yes", logging.INFO), (0, "0", None)])
def test_verbosity_configures_the_snnkit_logger_for_the_command_only(
        verbose, env, level, monkeypatch, capsys):
    if env is None:
        monkeypatch.delenv("SNNKIT_VERBOSE", raising=False)
    else:
        monkeypatch.setenv("SNNKIT_VERBOSE", env)
    logger = logging.getLogger("snnkit")
    before = (logger.level, list(logger.handlers), logger.propagate)
    with output.session(argparse.Namespace(verbose=verbose)):
        logging.getLogger("snnkit.backends.loihi.planning").info("an info line")
        logging.getLogger("snnkit.tuning.tuner").debug("a debug line")
        # the heavy stack's own start-up messages follow the same switch
        from snnkit.utils.stack import verbose as stack_verbose

        assert stack_verbose() == (level == logging.DEBUG)
    err = capsys.readouterr().err
    shown = {logging.INFO: ["an info line"], logging.DEBUG: ["an info line",
                                                             "a debug line"]}
    assert [t for t in ("an info line", "a debug line") if t in err] == \
        shown.get(level, [])
    if level is not None:
        assert "INFO snnkit.backends.loihi.planning: an info line" in err
    assert (logger.level, list(logger.handlers), logger.propagate) == before


def test_verbose_shows_a_command_s_logged_decisions(files, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.delenv("SNNKIT_VERBOSE", raising=False)
    argv = ["export", files / "tiny.snn.npz", "--format", "nir", "--out",
            tmp_path / "a.nir"]
    code, _, err = _run(capsys, argv)
    assert code == 0 and "NIR export" not in err
    code, _, err = _run(capsys, argv + ["-v"])
    assert code == 0 and "INFO snnkit.nir.export: NIR export: " in err
    monkeypatch.setenv("SNNKIT_VERBOSE", "1")
    code, _, err = _run(capsys, argv)
    assert code == 0 and "INFO snnkit.nir.export: NIR export: " in err


def test_json_is_one_document_on_stdout_and_text_goes_to_stderr(files, tmp_path, capsys):
    out = tmp_path / "converted.snn.npz"
    code, stdout, err = _run(capsys, ["convert", files / "tiny.h5", "--out", out,
                                      "--neuron-type", "loihi-relu", "--synapse",
                                      "0.005", "--scale", "conv0=20", "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    assert report["network"] == str(out) and report["neuron_type"] == "loihi-relu"
    assert report["scales"]["conv0"] == 20.0 and report["synapse_s"] == 0.005
    assert report["on_chip"] == ["conv0", "dense0"]
    assert "FrozenNetwork saved to" in err and "conv0" in err  # the summary table

    nir_file = tmp_path / "net.nir"
    code, stdout, err = _run(capsys, ["export", out, "--format", "nir", "--out",
                                      nir_file, "--json"])
    assert code == 0 and json.loads(stdout) == {
        "command": "export", "network": str(out), "format": "nir", "reader": "nir",
        "out": str(nir_file)}
    assert "NIR graph written to" in err

    code, stdout, err = _run(capsys, ["inspect", files / "tiny.snn.npz", "--json",
                                      "--no-plan"])
    assert code == 0, err
    assert json.loads(stdout)["metadata"] == METADATA  # values, not only the keys

    calibrated = tmp_path / "calibrated.snn.npz"
    code, stdout, err = _run(capsys, ["calibrate", files / "tiny.snn.npz", "--out",
                                      calibrated, "--n-train", "10", "--n-steps", "5",
                                      "--max-iterations", "2", "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    network = FrozenNetwork.load(calibrated)
    assert report["network"] == str(calibrated) and report["n_images"] == 10
    assert report["scales"] == {n: network.scale(n) for n in network.neuron_layers}
    assert set(report["rates_hz"]) == {"to-spikes", "conv0", "dense0"}
    assert report["iterations"] in (1, 2) and isinstance(report["converged"], bool)
    # the calibration's bars: one per measurement, named by it
    assert "calibrate: ReLU rates" in err and "calibrate 1/2" in err
    assert "nengo-dl (reset)" not in err

    code, stdout, _ = _run(capsys, ["backends", "--json"])
    assert code == 0 and "nengo-dl" in {row["name"] for row in json.loads(stdout)}


def test_bench_json_is_its_report(files, tmp_path, capsys):
    code, stdout, err = _run(capsys, ["bench", files / "tiny.snn.npz", "--backends",
                                      "loihi-emulator-fast", "--n-test", "10",
                                      "--n-steps", "5", "--no-plots", "--out-dir",
                                      tmp_path / "bench", "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    assert report == json.loads(json.dumps(report))  # plain JSON, no NaN
    written = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert [c["accuracy"] for c in report["cases"]] == \
        [c["accuracy"] for c in written["cases"]]
    assert report["files"]["json"] == str(tmp_path / "bench" / "bench.json")
    assert "loihi-emulator-fast" in err  # the table, for people


def test_quiet_hides_progress_but_not_results(files, tmp_path, capsys):
    code, stdout, err = _run(capsys, ["calibrate", files / "tiny.snn.npz", "--out",
                                      tmp_path / "c.snn.npz", "--n-train", "10",
                                      "--n-steps", "5", "--max-iterations", "1", "-q"])
    assert code == 0
    assert "calibrate" not in err and "FrozenNetwork saved to" in stdout


# --- tune: a line per trial ------------------------------------------------------------
def test_tune_reports_each_trial_and_json_describes_the_search(files, tmp_path, capsys):
    config = {"search": "scale", "network": str(files / "tiny.snn.npz"),
              "data": {"n_val": 20},
              "options": {"scales": {"conv0": {"low": 20.0, "high": 200.0}},
                          "backend": "loihi-emulator-fast", "n_steps": 10,
                          "objective": "accuracy", "oracle": "random", "max_trials": 3,
                          "seed": 0, "directory": str(tmp_path / "search"),
                          "project_name": "p"}}
    path = tmp_path / "search.json"
    path.write_text(json.dumps(config))
    code, stdout, err = _run(capsys, ["tune", path, "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    lines = re.findall(r"trial (\d)/3 \(id (\d+)\): (.*?); best so far (\S+) "
                       r"\(maximize accuracy\); \d+ s elapsed", err)
    assert [n for n, *_ in lines] == ["1", "2", "3"], err
    assert re.search(r"trials: +\d+%\|", err)  # the progress bar
    scores = {t["trial_id"]: t for t in report["trials"]}
    assert report["counts"] == {"COMPLETED": 3}
    best = max(float(t["score"]) for t in report["trials"])
    for number, trial_id, what, best_so_far in lines:
        assert what == f"score {float(scores[trial_id]['score']):.4g}"
    assert float(lines[-1][3]) == pytest.approx(best, rel=1e-3)
    assert any(p.endswith("pareto.csv") for p in report["files"])
    assert "wrote" in err and "Results" not in stdout  # summaries went to stderr

    # resumed with one more trial: numbered after the three already done
    config["options"]["max_trials"] = 4
    path.write_text(json.dumps(config))
    code, _, err = _run(capsys, ["tune", path])
    assert code == 0, err
    assert re.findall(r"trial (\d)/4", err) == ["4"]
    code, _, err = _run(capsys, ["tune", path, "-q"])  # nothing left to run
    assert code == 0 and "trial" not in err.lower().replace("trials", "")


# --- a closed output pipe ---------------------------------------------------------------
@pytest.mark.parametrize("argv", [["inspect", "NET", "--json", "--no-plan"],
                                  ["backends", "--json"]])
def test_a_closed_output_pipe_ends_quietly_with_status_141(argv, files):
    """``snnkit inspect --json | head -1``: the reader went away before the output was
    written; no "Broken pipe" error, the status of a Unix filter cut short."""
    argv = [str(files / "tiny.snn.npz") if a == "NET" else a for a in argv]
    proc = subprocess.Popen([sys.executable, "-m", "snnkit", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before it has written anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == output.BROKEN_PIPE_EXIT
    assert err.decode() == ""


# --- renamed options and arguments ----------------------------------------------------
@pytest.mark.parametrize("argv, dest, value, old, new", [
    (["calibrate", "n", "--out", "o", "--n-images", "10"], "n_train", 10,
     "--n-images", "--n-train"),
    (["train", "--out", "o", "--rate-target", "100:300"], "rate_reg", (100.0, 300.0),
     "--rate-target", "--rate-reg"),
    (["bench", "n", "--out", "d"], "out_dir", "d", "--out", "--out-dir"),
    (["demo", "--out", "d"], "out_dir", "d", "--out", "--out-dir"),
])
def test_old_spellings_work_for_one_release_with_a_note(argv, dest, value, old, new,
                                                        capsys):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    assert f"{old} is deprecated and will be removed after the next release; use " \
           f"{new}" in capsys.readouterr().err
    help_text = _subparsers()[argv[0]].format_help()
    assert new in help_text and not re.search(rf"{re.escape(old)}\b(?!-)", help_text)
    # the new spelling, with no note
    new_argv = [new if a == old else a for a in argv]
    assert getattr(build_parser().parse_args(new_argv), dest) == value
    assert "deprecated" not in capsys.readouterr().err


def test_export_s_positional_output_still_works_with_a_note(files, tmp_path, capsys):
    code, _, err = _run(capsys, ["export", files / "tiny.snn.npz", "--format", "nir",
                                 tmp_path / "old.nir"])
    assert code == 0 and (tmp_path / "old.nir").is_file()
    assert "positional output file is deprecated" in err and "use --out" in err
    code, _, err = _run(capsys, ["export", files / "tiny.snn.npz", "--format", "nir"])
    assert code == 1 and "--out: expected the file to write" in err


def test_rate_target_hz_is_a_deprecated_name_of_rate_reg_hz():
    from snnkit.exceptions import ValidationError
    from snnkit.training.recipes import train_for_loihi
    from snnkit.training.trainer import Trainer

    with pytest.warns(DeprecationWarning, match="Trainer: rate_target_hz is deprecated "
                                                "and will be removed after the next "
                                                "release; use rate_reg_hz"):
        trainer = Trainer(rate_target_hz=(100, 300))
    assert trainer.rate_reg_hz == (100, 300)
    assert Trainer(rate_reg_hz=50).rate_reg_hz == 50
    with pytest.raises(ValidationError, match="give rate_reg_hz only, got both"):
        Trainer(rate_target_hz=100, rate_reg_hz=100)
    with pytest.raises(ValidationError, match="train_for_loihi: rate_target_hz is the "
                                              "deprecated name of rate_reg_hz"):
        train_for_loihi(None, None, rate_target_hz=100, rate_reg_hz=100)
