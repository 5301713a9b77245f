"""A search configuration checked field by field before anything runs.

:func:`read_config_file` reads the JSON file bounded (a regular file of at most
:data:`MAX_CONFIG_BYTES`, UTF-8, nested at most :data:`MAX_CONFIG_DEPTH` deep, checked
on the text before it is parsed); :func:`check_config` then checks every field of the
configuration by type and range, and every path: inputs are regular files, outputs
(``export``, ``summary``) are new or regular files in a writable folder, never one
of the inputs (the same file, or a hard link to it), never inside the search's
project folder; ``project_name`` is a name, not a path (it cannot leave
``directory``). Nothing heavy is imported and nothing is read but the configuration,
so a mistake costs nothing; each is one :class:`SearchConfigError` naming the field
(``config['options']['n_steps']``), with what was expected and what was received,
its message bounded in length.

Ranges a search should never leave: :data:`MAX_N_STEPS` time steps per trial,
:data:`MAX_TRIALS` trials, :data:`MAX_CHOICES` values in a list of choices.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from snnkit.exceptions import ValidationError, shortened, shown
from snnkit.utils.files import loads_bounded
from snnkit.utils.validation import check_not_input, is_int, is_number

from .errors import SearchConfigError

MAX_CONFIG_BYTES = 2 ** 20       # a configuration is a few hundred bytes
MAX_CONFIG_DEPTH = 16
MAX_N_STEPS = 10_000             # 10 s of simulated time at 1 ms
MAX_TRIALS = 100_000
MAX_CHOICES = 1_000
MAX_TEXT = 4_096                 # a path or a name
MAX_RATE_HZ = 1_000.0            # one spike per 1 ms step
MAX_SCALE = 1e9
MAX_TIME_S = 1e4
ORACLES = ("random", "bayesian", "hyperband")
SEARCHES = ("scale", "rate")
TOP_KEYS = ("search", "network", "model", "data", "options", "export", "summary")
DATA_KEYS = ("dataset", "file", "n_train", "n_val", "val_from")
# keras-tuner's own oracle arguments a configuration may give (oracle_options)
ORACLE_OPTIONS = {
    "random": {"max_retries_per_trial": ("int", 0, 100)},
    "bayesian": {"num_initial_points": ("int", 1, MAX_TRIALS),
                 "alpha": ("number", 1e-12, 1e6), "beta": ("number", 0.0, 1e6),
                 "max_retries_per_trial": ("int", 0, 100)},
    "hyperband": {"factor": ("int", 2, 100), "hyperband_iterations": ("int", 1, 100),
                  "max_retries_per_trial": ("int", 0, 100)},
}


def read_config_file(path) -> dict:
    """The JSON configuration in ``path``, read bounded (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The configuration file.

    Returns
    -------
    dict
        The parsed JSON (checked by :func:`check_config` next).

    Raises
    ------
    SearchConfigError
        A missing, non-regular, oversized, non-UTF-8, too deep or invalid file.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SearchConfigError(f"config: no such file: {shortened(str(path), 200)}") \
            from None
    except OSError as e:
        raise SearchConfigError(f"config: cannot read {shortened(str(path), 200)} "
                                f"({e.strerror or e})") from None
    if not stat.S_ISREG(info.st_mode):
        raise SearchConfigError(f"config: {shortened(str(path), 200)} is not a regular "
                                "file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise SearchConfigError(f"config: {shortened(str(path), 200)} holds "
                                f"{info.st_size} bytes, more than {MAX_CONFIG_BYTES}")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        text = raw.decode("utf-8")
    except OSError as e:
        raise SearchConfigError(f"config: cannot read {shortened(str(path), 200)} "
                                f"({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise SearchConfigError(f"config: {shortened(str(path), 200)} is not UTF-8 "
                                f"text ({e.reason} at byte {e.start})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise SearchConfigError(f"config: {shortened(str(path), 200)} holds more than "
                                f"{MAX_CONFIG_BYTES} bytes")
    try:
        return loads_bounded(text, MAX_CONFIG_DEPTH)
    except ValidationError as e:
        raise SearchConfigError(f"config: {shortened(str(path), 200)}: {e}") from None


class _Fields:
    """Checks of one configuration's fields, each error naming the field."""

    def __init__(self, config_path):
        self.config_path = config_path
        self.inputs = []  # (field, Path)

    @staticmethod
    def fail(field, expected, value):
        raise SearchConfigError(f"{field}: expected {expected}, got {shown(value)}")

    def mapping(self, field, value, keys=None) -> dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.fail(field, "a JSON object", value)
        if keys is not None:
            unknown = sorted(set(value) - set(keys))
            if unknown:
                raise SearchConfigError(
                    f"{field}: unknown key(s) {shortened(', '.join(unknown), 200)}; "
                    f"known: {', '.join(sorted(keys))}")
        return value

    def integer(self, field, value, low, high, *, none=False):
        if none and value is None:
            return None
        if not is_int(value) or not low <= value <= high:
            self.fail(field, f"an int in {low}..{high}" + (" or null" if none else ""),
                      value)
        return value

    def number(self, field, value, low, high, *, low_open=False, none=False):
        if none and value is None:
            return None
        ok = is_number(value) and (value > low if low_open else value >= low) \
            and value <= high
        if not ok:
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            self.fail(field, f"a finite number {bound} and <= {high:g}"
                      + (" or null" if none else ""), value)
        return value

    def boolean(self, field, value):
        if not isinstance(value, bool):
            self.fail(field, "true or false", value)
        return value

    def text(self, field, value, options=None, *, none=False, most=MAX_TEXT):
        if none and value is None:
            return None
        if not isinstance(value, str) or not 0 < len(value) <= most or "\0" in value:
            self.fail(field, f"a text of 1..{most} characters", value)
        if options is not None and value not in options:
            self.fail(field, f"one of {', '.join(options)}", value)
        return value

    def names(self, field, value, *, none=True):
        if none and value is None:
            return None
        if not isinstance(value, list) or len(value) > MAX_CHOICES or not all(
                isinstance(v, str) and 0 < len(v) <= 256 for v in value):
            self.fail(field, f"a list of at most {MAX_CHOICES} layer names", value)
        return value

    def dimension(self, field, value, low, high, *, integer=False):
        """A search dimension: a fixed value, a list of choices, or a range
        ``{"low": a, "high": b}``, every value in ``[low, high]``."""
        kind = "int" if integer else "number"

        def ok(v):
            return (is_int(v) if integer else is_number(v)) and low <= v <= high

        if isinstance(value, dict):
            self.mapping(field, value, ("low", "high"))
            if set(value) != {"low", "high"} or not ok(value["low"]) \
                    or not ok(value["high"]) or not value["low"] < value["high"]:
                self.fail(field, f'{{"low": a, "high": b}} with {kind}s {low:g} <= a < '
                                 f"b <= {high:g}", value)
        elif isinstance(value, list):
            if not 0 < len(value) <= MAX_CHOICES or not all(map(ok, value)):
                self.fail(field, f"a list of 1..{MAX_CHOICES} {kind}s in "
                                 f"{low:g}..{high:g}", value)
        elif not ok(value):
            self.fail(field, f"{'an' if integer else 'a'} {kind} in {low:g}..{high:g}, "
                             "a list of them or "
                             '{"low": a, "high": b}', value)
        return value

    def input_file(self, field, value):
        self.text(field, value)
        path = Path(value)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise SearchConfigError(f"{field}: expected the path of a file, got "
                                    f"{shortened(value, 200)} (no such file)") from None
        except OSError as e:
            raise SearchConfigError(f"{field}: cannot read {shortened(value, 200)} "
                                    f"({e.strerror or e})") from None
        if not stat.S_ISREG(mode):
            raise SearchConfigError(f"{field}: {shortened(value, 200)} is not a regular "
                                    "file")
        self.inputs.append((field, path))
        return value


def check_config(config, config_path=None) -> dict:
    """Check a configuration field by field (see the module docstring).

    Parameters
    ----------
    config : dict
        The configuration (parsed JSON).
    config_path : str, os.PathLike or None
        The file it came from (an input no output may overwrite).

    Returns
    -------
    dict
        ``config`` itself.

    Raises
    ------
    SearchConfigError
        Naming the first field that fails, what was expected and what was received.
    """
    check = _Fields(config_path)
    if config_path is not None:
        check.inputs.append(("config", Path(config_path)))
    check.mapping("config", config, TOP_KEYS)
    search = config.get("search")
    if search not in SEARCHES:
        check.fail("config['search']", f"one of {', '.join(SEARCHES)}", search)
    if search == "scale":  # (a missing network is named after the data's counts)
        if "network" in config:
            check.input_file("config['network']", config["network"])
        if "model" in config:
            raise SearchConfigError("config['model']: a scale search searches the "
                                    "network of config['network'], not a model; remove "
                                    "'model'")
    else:
        if "network" in config:
            raise SearchConfigError("config['network']: a rate search trains "
                                    "config['model'] (default 'seed_convnet'); remove "
                                    "'network'")
        _check_model(check, config.get("model", "seed_convnet"))
    _check_data(check, check.mapping("config['data']", config.get("data", {}),
                                     DATA_KEYS))
    options = check.mapping("config['options']", config.get("options", {}))
    _check_options(check, options, search)
    _check_outputs(check, config, options)
    return config


def _check_model(check, name):
    check.text("config['model']", name, most=128)
    if not name.isidentifier() or name.startswith("_"):
        check.fail("config['model']", "the name of a model of snnkit.models (e.g. "
                   "'seed_convnet')", name)


def _check_data(check, data):
    field = "config['data']"
    if "dataset" in data:
        check.text(f"{field}['dataset']", data["dataset"], ("mnist",))
        if "file" in data:
            raise SearchConfigError(f"{field}: give 'file' (your images) or 'dataset' "
                                    "(MNIST), not both")
    if "file" in data:
        check.input_file(f"{field}['file']", data["file"])
    for key in ("n_train", "n_val"):  # ranges: the data's (snnkit.tuning.data_split)
        if key in data and not is_int(data[key]):
            check.fail(f"{field}[{key!r}]", "an int", data[key])
    if "val_from" in data:
        check.text(f"{field}['val_from']", data["val_from"], ("train", "test"))


def _check_options(check, options, search):
    field = "config['options']"

    def at(key):
        return f"{field}[{key!r}]"

    common = {"objective", "constraints", "oracle", "max_trials", "hyperband_max_budget",
              "seed", "directory", "project_name", "overwrite",
              "max_consecutive_failed_trials", "chief_timeout_s", "expected_workers",
              "oracle_options", "verbose", "backend", "backend_options", "neuron_type",
              "n_steps", "calibrate_to_hz", "n_calibrate", "n_val", "layers", "synapse"}
    own = ({"scales", "scale_range", "check_cores"} if search == "scale" else
           {"rate_targets", "default_rate_range", "rate_weight", "trainer_options"})
    check.mapping(field, options, common | own)
    get = options.get
    if "objective" in options:
        objective = get("objective")
        if isinstance(objective, dict):
            check.mapping(at("objective"), objective)
            if not objective or len(objective) > 64 or not all(
                    is_number(w) for w in objective.values()):
                check.fail(at("objective"), "a metric name or {metric: weight} with "
                           "finite weights", objective)
        else:
            check.text(at("objective"), objective, most=200)
    if "constraints" in options:
        constraints = check.mapping(at("constraints"), get("constraints"))
        for name, bound in constraints.items():
            ok = is_number(bound) or (
                isinstance(bound, list) and len(bound) == 2
                and bound[0] in (">=", "<=") and is_number(bound[1]))
            if not ok or len(name) > 200:
                check.fail(f"{at('constraints')}[{shortened(name, 60)!r}]",
                           'a finite bound or [">=", bound]', bound)
    oracle = check.text(at("oracle"), get("oracle", "bayesian"), ORACLES)
    check.integer(at("max_trials"), get("max_trials", 20), 1, MAX_TRIALS)
    check.integer(at("hyperband_max_budget"), get("hyperband_max_budget", 9), 1, 1000)
    check.integer(at("seed"), get("seed", 0), 0, 2 ** 31 - 1)
    check.text(at("directory"), get("directory", "."))
    _check_project_name(check, at("project_name"), get("project_name"))
    check.boolean(at("overwrite"), get("overwrite", False))
    check.integer(at("max_consecutive_failed_trials"),
                  get("max_consecutive_failed_trials"), 1, 10 ** 9, none=True)
    check.number(at("chief_timeout_s"), get("chief_timeout_s", 120.0), 0, 86400,
                 low_open=True)
    check.integer(at("expected_workers"), get("expected_workers"), 1, 10_000, none=True)
    if "verbose" in options and not isinstance(get("verbose"), bool):
        check.integer(at("verbose"), get("verbose"), 0, 2)
    extra = check.mapping(at("oracle_options"), get("oracle_options", {}),
                          ORACLE_OPTIONS[oracle])
    for key, (kind, low, high) in ORACLE_OPTIONS[oracle].items():
        if key in extra:
            where = f"{at('oracle_options')}[{key!r}]"
            if kind == "int":
                check.integer(where, extra[key], low, high)
            else:
                check.number(where, extra[key], low, high)
    _check_backend(check, at, options)
    check.dimension(at("n_steps"), get("n_steps", 30), 1, MAX_N_STEPS, integer=True)
    if search == "rate" and not is_int(get("n_steps", 30)):
        check.fail(at("n_steps"), "one int (a rate search runs each trial once)",
                   get("n_steps"))
    check.number(at("calibrate_to_hz"), get("calibrate_to_hz"), 0, MAX_RATE_HZ,
                 low_open=True, none=True)
    check.integer(at("n_calibrate"), get("n_calibrate", 200), 1, 10 ** 9)
    check.integer(at("n_val"), get("n_val"), 1, 10 ** 9, none=True)
    check.names(at("layers"), get("layers"))
    if search == "scale":
        _check_scale_options(check, at, options)
    else:
        _check_rate_options(check, at, options)


def _check_backend(check, at, options):
    from snnkit.network.neurons import known_neuron_types

    backend = check.text(at("backend"), options.get("backend", "loihi-emulator-fast"),
                         most=128)
    from snnkit.backends import registered_backends

    if backend not in registered_backends():
        raise SearchConfigError(f"{at('backend')}: {shown(backend)} not found; "
                                f"registered backends: "
                                f"{', '.join(registered_backends())}")
    settings = check.mapping(at("backend_options"), options.get("backend_options", {}))
    for key, value in settings.items():
        if not (value is None or isinstance(value, (bool, str)) or is_number(value)):
            check.fail(f"{at('backend_options')}[{shortened(key, 60)!r}]",
                       "a number, text, true/false or null", value)
    neuron = options.get("neuron_type", "loihi-relu")
    check.text(at("neuron_type"), neuron, known_neuron_types())


def _check_scale_options(check, at, options):
    scales = check.mapping(at("scales"), options.get("scales", {}))
    for layer, value in scales.items():
        check.dimension(f"{at('scales')}[{shortened(layer, 60)!r}]", value, 1e-9,
                        MAX_SCALE)
    value = options.get("scale_range", [4.0, 4.0])
    if is_number(value):
        value = [value, value]
    if not (isinstance(value, list) and len(value) == 2 and all(
            is_number(v) and 1 <= v <= 1e6 for v in value)) or value == [1, 1]:
        check.fail(at("scale_range"), "[down, up] factors in 1..1e6, not both 1",
                   options.get("scale_range"))
    if options.get("synapse") is not None:
        check.dimension(at("synapse"), options["synapse"], 1e-6, MAX_TIME_S)
    check.boolean(at("check_cores"), options.get("check_cores", False))


def _check_rate_options(check, at, options):
    targets = check.mapping(at("rate_targets"), options.get("rate_targets", {}))
    for layer, value in targets.items():
        check.dimension(f"{at('rate_targets')}[{shortened(layer, 60)!r}]", value,
                        1e-3, MAX_RATE_HZ)
    value = options.get("default_rate_range", [50.0, 500.0])
    if not (isinstance(value, list) and len(value) == 2 and all(
            is_number(v) and 0 < v <= MAX_RATE_HZ for v in value)
            and value[0] < value[1]):
        check.fail(at("default_rate_range"), f"[low, high] Hz with 0 < low < high <= "
                   f"{MAX_RATE_HZ:g}", value)
    check.dimension(at("rate_weight"), options.get("rate_weight", {"low": 1.0,
                                                                   "high": 100.0}),
                    1e-9, 1e9)
    check.number(at("synapse"), options.get("synapse", 0.005), 0, MAX_TIME_S,
                 low_open=True, none=True)
    trainer = check.mapping(at("trainer_options"), options.get("trainer_options", {}))
    ranges = {"max_epochs": (1, 10_000), "minibatch_size": (1, 2 ** 16)}
    for key, value in trainer.items():
        where = f"{at('trainer_options')}[{shortened(key, 60)!r}]"
        if key in ranges:
            check.integer(where, value, *ranges[key])
        elif key == "learning_rate":
            check.number(where, value, 0, 10, low_open=True)
        elif not (value is None or isinstance(value, (bool, str)) or is_number(value)
                  or isinstance(value, dict) and len(value) <= 1000):
            check.fail(where, "a number, text, true/false, null or {layer: value}", value)


def _check_project_name(check, field, name):
    if name is None:
        return
    check.text(field, name, most=255)
    if name in (".", "..") or "/" in name or "\\" in name or os.path.isabs(name):
        check.fail(field, "a folder name (no path: it must stay inside 'directory')",
                   name)


def _check_writable_folder(field, folder: Path) -> None:
    """``folder`` exists and can be written, or can be made (its nearest existing
    ancestor is a folder that can be written); :func:`run_search` makes it."""
    folder = folder if str(folder) else Path(".")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise SearchConfigError(f"{field}: cannot write into "
                                f"{shortened(str(folder), 200)} "
                                f"({shortened(str(existing), 200)} is not a folder that "
                                "can be written)")


def _check_outputs(check, config, options):
    """export and summary: writable new or regular files that are no input, and no
    input inside the project folder (the search writes there, and clears it with
    overwrite)."""
    directory = options.get("directory", ".")
    default = "scale_search" if config.get("search") == "scale" else "rate_target_search"
    project = os.path.join(directory, options.get("project_name") or default)
    for key in ("export", "summary"):
        if config.get(key) is None:
            continue
        field = f"config[{key!r}]"
        check.text(field, config[key])
        check_not_input(field, config[key], check.inputs, error=SearchConfigError)
        _check_writable_folder(field, Path(config[key]).parent)
    root = os.path.realpath(project)
    outputs = [(f"config[{key!r}]", Path(config[key])) for key in ("export", "summary")
               if config.get(key) is not None]
    for field, path in check.inputs + outputs:
        inside = os.path.realpath(path)
        if os.path.commonpath([root, inside]) == root:
            raise SearchConfigError(
                f"{field}: {shortened(str(path), 200)} is inside the search's "
                f"project folder {shortened(project, 200)}, which the search writes "
                "(and clears with overwrite); move it out or give another "
                "project_name")
