"""One config system per program: defaults written once, a config file, then flags.

A program writes its defaults once, as a table FIELDS = {name: (default, help)}. From it come
its ConfigDict (`config_from_fields`, the program's `get_config()`) and its flags
(`define_config_flags`): --config=FILE, a .py file whose get_config() returns the program's
config (experiments/configs/*.py for training; start from the program's get_config()),
--config.NAME=VALUE (ml_collections' config_flags), and one --NAME per field. Precedence:
defaults < the file < --config.NAME < --NAME. A --NAME flag has no default of its own: it
applies only when given. A default of None takes a type,
`ml_collections.config_dict.placeholder(int)`, so that its flags can parse a value; a dict field
takes repeatable --NAME=key=value flags, merged over the file's dict.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import Any

import ml_collections
from absl import flags
from ml_collections import config_flags
from ml_collections.config_flags import tuple_parser

from convae_tf.errors import ConfigError

Fields = Mapping[str, tuple[Any, str]]
CONFIG_FLAG = "config"


def config_from_fields(fields: Fields) -> ml_collections.ConfigDict:
    """A new ConfigDict holding the defaults of `fields` (unlocked: a config file changes it)."""
    # A ConfigDict shares a placeholder (a FieldReference) rather than copying it: copy them all.
    return copy.deepcopy(
        ml_collections.ConfigDict({name: default for name, (default, _) in fields.items()})
    )


def check_fields(config, fields: Fields, source: str) -> None:
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source} sets unknown fields {unknown}; valid fields: {', '.join(fields)}"
        )


def _load_config_file(path: str, fields: Fields) -> ml_collections.ConfigDict:
    """The defaults of `fields` with what `get_config()` of the file at `path` sets (a ConfigDict
    or a dict of fields). Every problem with the file is a ConfigError; absl prefixes the
    messages with "flag --config=PATH: "."""
    if not os.path.isfile(path):
        raise ConfigError(
            "no such file; give the path of a config file (a .py file with a get_config() "
            "function, like those in experiments/configs/)"
        )
    spec = importlib.util.spec_from_file_location(f"_config_{os.path.basename(path)}", path)
    if spec is None:
        raise ConfigError("not a Python file; a config file is a .py file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        get_config = getattr(module, "get_config", None)
        loaded = get_config() if callable(get_config) else None
    except Exception as error:  # any error in the user's file becomes one clear line
        raise ConfigError(f"could not be run: {type(error).__name__}: {error}") from None
    if isinstance(loaded, ml_collections.ConfigDict):
        loaded = loaded.to_dict()
    if not isinstance(loaded, Mapping):
        raise ConfigError(
            "defines no get_config() returning a config; add one that starts from the "
            "program's get_config() and sets what the experiment changes"
        )
    check_fields(loaded, fields, "the file")
    config = config_from_fields(fields)
    try:
        config.update(loaded)
    except TypeError as error:
        raise ConfigError(f"the file sets a value of the wrong type: {error}") from None
    return config


class _ConfigFileParser(flags.ArgumentParser):
    """--config's value: the defaults while it is not given, else a config file over them."""

    def __init__(self, fields: Fields):
        self.fields = fields

    def parse(self, argument):
        if isinstance(argument, ml_collections.ConfigDict):
            return argument
        return _load_config_file(argument, self.fields)

    def flag_type(self) -> str:
        return "config file"


class _KeyValueParser(flags.ArgumentParser):
    """`key=value` → (key, value); the value is a Python literal where it parses as one
    (`filters=32,64` → (32, 64), `beta=4` → 4), a string otherwise (`pooling=avg`)."""

    def parse(self, argument: str) -> tuple[str, Any]:
        key, sep, text = argument.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{argument!r} must be key=value, e.g. pooling=avg")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        return key.strip(), value

    def flag_type(self) -> str:
        return "key=value"


_PARSERS = {
    bool: flags.BooleanParser,
    int: flags.IntegerParser,
    float: flags.FloatParser,
    str: flags.ArgumentParser,
    tuple: tuple_parser.TupleParser,  # "32,32" → (32, 32), as --config.NAME parses it
}


def _field_flag(defaults: ml_collections.ConfigDict, name: str, help_text: str) -> flags.Flag:
    """The --NAME flag of a field: no default of its own (it applies only when given); --help
    shows the config's default."""
    kind, default = defaults.get_type(name), defaults[name]
    if kind is ml_collections.ConfigDict:
        default = default.to_dict()
    if default not in (None, {}, ""):
        shown = str(default).lower() if isinstance(default, bool) else default
        help_text = f"{help_text} (default: {shown})"
    serializer = flags.ArgumentSerializer()
    if kind is ml_collections.ConfigDict:
        return flags.MultiFlag(_KeyValueParser(), serializer, name, None, help_text)
    if kind not in _PARSERS:
        raise TypeError(
            f"config field {name!r} holds a {kind.__name__}, which no flag parses; a default of "
            "None needs ml_collections.config_dict.placeholder(TYPE)"
        )
    return flags.Flag(_PARSERS[kind](), serializer, name, None, help_text, boolean=kind is bool)


@dataclasses.dataclass
class ConfigFlags:
    """The flags that `define_config_flags` defined; `resolve()` once they are parsed."""

    fields: Fields
    flag_values: flags.FlagValues

    def resolve(self) -> ml_collections.ConfigDict:
        """Defaults < --config file < --config.NAME < --NAME, locked."""
        config = self.flag_values[CONFIG_FLAG].value
        new = " ".join(f"--config.{name}=…" for name in sorted(set(config) - set(self.fields)))
        check_fields(config, self.fields, new)
        for name in self.fields:
            flag = self.flag_values[name]
            if not flag.present:
                continue
            if isinstance(config[name], ml_collections.ConfigDict):
                config[name] = config[name].to_dict() | dict(flag.value)
            else:
                config[name] = flag.value
        config.lock()
        return config


def define_config_flags(
    fields: Fields, *, flag_values: flags.FlagValues = flags.FLAGS, argv: list[str] | None = None
) -> ConfigFlags:
    """Defines --config, --config.NAME and one --NAME per field of `fields`. `argv`: the
    command line that --config.NAME flags are looked for in (default: sys.argv)."""
    defaults = config_from_fields(fields)
    # DEFINE_config_dict rather than DEFINE_config_file: --config.NAME then works without a
    # file too (over the defaults), and the file is loaded by our parser, which reports every
    # problem with it in one line (config_flags' file parser lets most errors out as tracebacks).
    config_flags.DEFINE_config_dict(
        CONFIG_FLAG,
        defaults,
        "A config file: a .py file whose get_config() returns this program's config "
        "(experiments/configs/*.py for training); flags given here override it. "
        "--config.FIELD=VALUE sets one field.",
        flag_values=flag_values,
        # Unknown --config.NAME fields are accepted here and refused by resolve(), in one line.
        lock_config=False,
        accept_new_attributes=True,
        sys_argv=argv,
    )
    # config_flags' own parser of this flag takes a ConfigDict only; ours takes a file too.
    # (absl calls a flag's parser for a value given on the command line, config_flags then
    # applies the --config.NAME flags to the parsed config.)
    flag_values[CONFIG_FLAG].parser = _ConfigFileParser(fields)
    flag_values[CONFIG_FLAG].default_as_str = None  # --help would print the whole ConfigDict
    for name, (_, help_text) in fields.items():
        flags.DEFINE_flag(_field_flag(defaults, name, help_text), flag_values)
    return ConfigFlags(fields, flag_values)


def program_flags_in_help(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """absl's --help lists the key flags of the main module (sys.argv[0]); a program's flags
    are defined in convae_tf's modules (this one for the config flags), so declare them key."""
    for module, defined in flag_values.flags_by_module_dict().items():
        if module.startswith("convae_tf"):
            for flag in defined:
                flag_values.register_key_flag_for_module(sys.argv[0], flag)
