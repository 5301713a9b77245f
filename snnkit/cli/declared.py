"""The command line as declared in ``commands.toml``: read it, check it, and build the
argparse parsers from it. Standard library only, so ``--help`` stays instant.

``commands.toml`` lists every subcommand (its help, description and the function in
:mod:`snnkit.cli` that runs it) and every option it takes. Options several commands
take are declared once under ``[shared.*]`` and used by name; the options every command
takes (``-q``, ``-v``, ``--json``) are declared once under ``[[common]]``. The help of an
option never states its default; " (default: X)" is added here from the declared
default, so help and behaviour cannot drift apart. An option's ``deprecated`` names are
old spellings still accepted for one release: hidden from the help, each use prints a
one-line note on stderr naming the new one.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tomllib
from functools import lru_cache
from pathlib import Path

from snnkit.cli import arguments as A
from snnkit.exceptions import DeclarationError

SPEC_FILE = Path(__file__).with_name("commands.toml")

_COMMAND_KEYS = frozenset({"help", "description", "module", "function", "options"})
_OPTION_KEYS = frozenset({"flag", "short", "deprecated", "use", "dest", "type",
                          "default", "default_text", "choices", "choices_of", "action",
                          "required", "nargs", "metavar", "help", "group"})
_ACTIONS = ("store_true", "store_false", "count")


@lru_cache(maxsize=1)
def declarations() -> dict:
    """The declarations as read from ``commands.toml``, resolved and checked.

    Every option is resolved against ``shared`` and checked.

    Returns
    -------
    dict
        ``{"shared": {...}, "common": [...], "command": {name: {...}}}``.

    Raises
    ------
    DeclarationError
        On an unknown key, a missing shared option, flag or help, an unknown type or
        action.
    """
    with open(SPEC_FILE, "rb") as f:
        spec = tomllib.load(f)
    shared = spec.get("shared", {})
    commands = {}
    for name, command in spec.get("command", {}).items():
        unknown = set(command) - _COMMAND_KEYS
        if unknown:
            raise DeclarationError(f"command {name!r}: unknown keys {sorted(unknown)}")
        options = [_resolve(name, option, shared)
                   for option in command.get("options", [])]
        commands[name] = dict(command, options=options)
    common = [_resolve("[[common]]", option, shared)
              for option in spec.get("common", [])]
    return {"shared": shared, "common": common, "command": commands}


def command_names() -> tuple[str, ...]:
    """The subcommands, in the order ``snnkit --help`` lists them."""
    return tuple(declarations()["command"])


def _resolve(command: str, option: dict, shared: dict) -> dict:
    if "use" in option:
        if option["use"] not in shared:
            raise DeclarationError(f"command {command!r}: no shared option "
                                   f"{option['use']!r}; shared: {', '.join(shared)}")
        option = {**shared[option["use"]],
                  **{k: v for k, v in option.items() if k != "use"}}
    unknown = set(option) - _OPTION_KEYS
    if unknown or "flag" not in option or "help" not in option:
        raise DeclarationError(f"command {command!r}, option {option.get('flag')!r}: "
                               f"needs flag and help, may have {sorted(_OPTION_KEYS)}; "
                               f"got {sorted(option)}")
    if option.get("type") is not None and option["type"] not in A.TYPES:
        raise DeclarationError(f"{command} {option['flag']}: unknown type "
                               f"{option['type']!r}; types: {', '.join(A.TYPES)}")
    if option.get("action") not in (None, *_ACTIONS):
        raise DeclarationError(f"{command} {option['flag']}: unknown action "
                               f"{option['action']!r}")
    return option


def help_text(option: dict) -> str:
    """The option's help with its default.

    The default shown is ``default_text`` when declared, else ``default`` when it is
    not None (floats as ``%g``).
    """
    shown = option.get("default_text")
    if shown is None and option.get("default") is not None:
        default = option["default"]
        shown = format(default, "g") if isinstance(default, float) else str(default)
    return option["help"] if shown is None else f"{option['help']} (default: {shown})"


def add_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Add ``command``'s declared options to ``parser``, in their declared order, then
    the options every command takes."""
    groups = {}
    spec = declarations()
    for option in spec["command"][command]["options"] + spec["common"]:
        target = parser
        if "group" in option:
            if option["group"] not in groups:
                groups[option["group"]] = parser.add_mutually_exclusive_group()
            target = groups[option["group"]]
        kwargs = {"help": help_text(option)}
        for key in ("dest", "default", "choices", "action", "required", "nargs",
                    "metavar"):
            if key in option:
                kwargs[key] = option[key]
        if "type" in option:
            kwargs["type"] = A.TYPES[option["type"]]
        if option.get("choices_of") == "neuron_types":
            from snnkit.network.neurons import NEURON_TYPE_NAMES

            kwargs["choices"] = NEURON_TYPE_NAMES
        flags = [option["short"], option["flag"]] if "short" in option \
            else [option["flag"]]
        action = target.add_argument(*flags, **kwargs)
        for old in option.get("deprecated", ()):
            _add_deprecated(target, old, action, option["flag"])


class _Deprecated(argparse.Action):
    """An old spelling of an option: does what the new one does, and says so."""

    def __init__(self, option_strings, dest, *, replacement: argparse.Action,
                 new_flag: str, **kwargs):
        self.replacement, self.new_flag = replacement, new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        old = option_string or self.dest
        print(f"{parser.prog}: note: {old} is deprecated and will be removed after the "
              f"next release; use {self.new_flag}", file=sys.stderr)
        if self.replacement.nargs == 0:  # a switch: store_true / store_false
            values = self.replacement.const
        setattr(namespace, self.dest, values)


def _add_deprecated(target, old: str, action: argparse.Action, new_flag: str) -> None:
    kwargs = {"dest": action.dest, "default": None,  # the new spelling sets it first
              "help": argparse.SUPPRESS, "replacement": action, "new_flag": new_flag}
    if action.nargs == 0:
        kwargs["nargs"] = 0
    else:
        kwargs.update(type=action.type, choices=action.choices, metavar=action.metavar,
                      nargs=action.nargs)
    target.add_argument(old, action=_Deprecated, **kwargs)


def add_command(commands, command: str, parents=()) -> argparse.ArgumentParser:
    """A subparser for ``command``, with its options and the function that runs it.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        argparse's subparsers.
    command : str
        A declared subcommand.
    parents : sequence of argparse.ArgumentParser, optional
        Parsers whose options it also takes.

    Returns
    -------
    argparse.ArgumentParser
        The subparser; ``args.run`` names the function that runs it, resolved after
        parsing (:func:`runner`).
    """
    declared = declarations()["command"][command]
    parser = commands.add_parser(command, parents=list(parents), help=declared["help"],
                                 description=declared.get("description"))
    add_options(parser, command)
    parser.set_defaults(run=(declared.get("module", command),
                             declared.get("function", "run")))
    return parser


def runner(args):
    """The function that runs the parsed ``args``' subcommand."""
    module, function = args.run
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)
