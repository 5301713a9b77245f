"""The command line's declaration (``snnkit/cli/commands.toml``): every option it
declares reaches the parser with its help and default, every ``args.<name>`` a command
reads is declared, and a mistake in the declaration is refused by name."""

import argparse
import importlib
import re
from pathlib import Path

import pytest

from snnkit.cli import arguments, build_parser, declared

COMMANDS = declared.command_names()


def subparsers() -> dict:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_command_is_declared_in_help_order():
    assert COMMANDS == ("demo", "train", "convert", "calibrate", "inspect", "tune",
                        "bench", "export", "backends")
    assert tuple(subparsers()) == COMMANDS


# a default that stands for something else, so its help says what instead
PLACEHOLDER_DEFAULTS = {("calibrate", "synapse"): "keep", ("calibrate", "readout"): "keep",
                        ("train", "synapse"): "auto"}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_states_the_default_that_applies(command):
    parser = subparsers()[command]
    for action in parser._actions:
        if action.dest in ("help", "debug") or action.help == argparse.SUPPRESS:
            continue  # a deprecated spelling: hidden, its new one is checked
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            assert "(default" not in action.help, action.help
            continue
        default = parser.get_default(action.dest)
        if isinstance(default, str):  # argparse passes it through the option's type
            default = action.type(default) if action.type else default
        if default is None:
            continue
        if (command, action.dest) in PLACEHOLDER_DEFAULTS:
            assert default == PLACEHOLDER_DEFAULTS[command, action.dest]
            continue
        shown = format(default, "g") if isinstance(default, float) else \
            ",".join(default) if isinstance(default, tuple) else str(default)
        stated = re.search(r"\(default: ([^)]*)\)$", action.help)
        assert stated and stated.group(1).startswith(shown), \
            f"{command} {action.dest}: default {shown!r}, help {action.help!r}"


def test_string_defaults_pass_through_the_option_type():
    # argparse converts a string default with the option's type: bench's
    # --backends default arrives as a tuple of names, like a typed value
    args = build_parser().parse_args(["bench", "net.snn.npz"])
    assert args.backends == ("nengo-dl", "loihi-emulator")
    assert build_parser().parse_args(["calibrate", "n", "--out", "o"]).synapse == "keep"


def test_image_counts_default_to_what_the_help_says():
    args = build_parser().parse_args(["train", "--out", "o"])
    assert args.n_train is None  # "(default: all)"
    images = arguments.Images(None)  # MNIST
    x, y, data_id = images.take("test", "--n-test", None, default=1000)
    assert len(x) == len(y) == 1000 and data_id == "mnist-test[:1000]"
    x, _, data_id = images.take("train", "--n-train", None)
    assert len(x) == arguments.MNIST_TRAIN and data_id == "mnist-train[:60000]"


def test_every_argument_a_command_reads_is_declared():
    """``args.x`` in a command's module must be an option of that command: a renamed
    option in commands.toml fails here, not in a user's run."""
    by_module = {}
    for command, parser in subparsers().items():
        module = declared.declarations()["command"][command].get("module", command)
        dests = {a.dest for a in parser._actions} | {"command", "run"}
        by_module.setdefault(module, set()).update(dests)
    for module, dests in by_module.items():
        source = Path(importlib.import_module(f"snnkit.cli.{module}").__file__).read_text()
        read = set(re.findall(r"\bargs\.([a-z_]+)", source))
        assert read, module
        assert read <= dests, f"snnkit.cli.{module} reads undeclared {read - dests}"


def test_every_command_runs_a_function_that_exists():
    for command in COMMANDS:
        args = argparse.Namespace(run=subparsers()[command].get_default("run"))
        assert callable(declared.runner(args))


def _declare(tmp_path, monkeypatch, text):
    spec = tmp_path / "commands.toml"
    spec.write_text(text)
    monkeypatch.setattr(declared, "SPEC_FILE", spec)
    declared.declarations.cache_clear()


@pytest.fixture
def restore_declarations():
    yield
    declared.declarations.cache_clear()


@pytest.mark.parametrize("text, message", [
    ('[command.x]\nhelp = "h"\nhlep = "typo"\n', r"command 'x': unknown keys \['hlep'\]"),
    ('[command.x]\nhelp = "h"\n[[command.x.options]]\nuse = "quiet"\n',
     r"no shared option 'quiet'"),
    ('[command.x]\nhelp = "h"\n[[command.x.options]]\nflag = "--n"\ntype = "int>=2"\n'
     'help = "n"\n', r"x --n: unknown type 'int>=2'"),
    ('[command.x]\nhelp = "h"\n[[command.x.options]]\nflag = "--n"\n',
     r"needs flag and help"),
    ('[command.x]\nhelp = "h"\n[[command.x.options]]\nflag = "--n"\nhelp = "n"\n'
     'action = "append"\n', r"unknown action 'append'"),
    ('[command.x]\nhelp = "h"\n[[common]]\nflag = "--n"\nhelp = "n"\nhlep = "typo"\n',
     r"command '\[\[common\]\]', option '--n': needs flag and help, may have"),
])
def test_a_mistaken_declaration_is_refused_by_name(tmp_path, monkeypatch,
                                                   restore_declarations, text, message):
    _declare(tmp_path, monkeypatch, text)
    with pytest.raises(declared.DeclarationError, match=message):
        declared.declarations()


def test_help_text_adds_the_declared_default():
    assert declared.help_text({"help": "rate", "default": 200.0}) == "rate (default: 200)"
    assert declared.help_text({"help": "dt", "default": 0.001}) == "dt (default: 0.001)"
    assert declared.help_text({"help": "s", "default": None,
                               "default_text": "the network's"}) == \
        "s (default: the network's)"
    assert declared.help_text({"help": "q"}) == "q"
