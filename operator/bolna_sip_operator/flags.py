"""Command-line flags and environment variables, generated from settings models.

A settings model (:mod:`.config`) is the only place a setting is defined. For each of
its fields this module derives:

- the flag: ``--`` and the field's name in kebab case, or ``flag`` from the field's
  ``json_schema_extra`` (which keeps an established flag name); ``flag: False`` keeps a
  field off the command line and out of the environment (the token);
- the environment variable: the prefix and the flag's name in upper snake case
  (``--rate-limit``: ``BOLNA_SIP_RATE_LIMIT``), so flag and variable always match;
- the help: the field's description, then its default and its variable, in the
  argument group ``group`` with ``metavar`` (both from ``json_schema_extra``);
- the conversion: the field's annotation with its constraints (``gt=0``), checked as
  the flag is parsed, so ``--drift-interval 0`` fails naming the flag; ``X | None``
  converts as X, ``tuple[X, ...]`` is a repeated flag (a comma-separated list in the
  environment), ``bool`` a switch (``1``/``true`` or ``0``/``false`` in the
  environment).

A flag wins over its environment variable, which wins over the field's default.
"""

from __future__ import annotations

import argparse
import textwrap
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Setting:
    """One field of a settings model, as the command line and the environment see it."""

    name: str
    """The field's name; also the argparse ``dest``."""
    field: FieldInfo
    flag: str
    env: str
    group: str
    metavar: str | None
    item: Any
    """The type of one value: ``X`` for ``X | None`` and for ``tuple[X, ...]``."""
    repeated: bool
    switch: bool

    def help(self) -> str:
        """The help line: what it is for, its default and its environment variable."""
        text = (self.field.description or "").strip()
        default = self.field.default
        if self.switch:
            tail = f"Env {self.env}=1."
        elif self.repeated:
            tail = f"Repeatable; env {self.env}, comma-separated."
        elif default is None or default is PydanticUndefined:
            tail = f"Env {self.env}."
        else:
            tail = f"Default {_shown(default)}; env {self.env}."
        return f"{text} {tail}".replace("%", "%%")

    def convert(self, text: str) -> Any:
        """One value from the command line, checked as the field checks it."""
        constraints = () if self.repeated else tuple(self.field.metadata)
        target: Any = Annotated[(self.item, *constraints)] if constraints else self.item
        try:
            return TypeAdapter(target).validate_python(text)
        except ValidationError as error:
            raise argparse.ArgumentTypeError(
                "; ".join(_message(problem) for problem in error.errors())) from None


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps flags and variable names whole: lines break at spaces, never at hyphens."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class SettingsError(Exception):
    """Settings that do not validate; each problem names its flag or variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def settings_of(model: type[BaseModel], prefix: str) -> Iterator[Setting]:
    """The settings of ``model`` that are flags, in field order."""
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        flag = extra.get("flag")
        if flag is False:
            continue
        flag = str(flag or name.replace("_", "-"))
        group, metavar = extra.get("group"), extra.get("metavar")
        if not isinstance(group, str):
            raise TypeError(f"{model.__name__}.{name}: json_schema_extra needs a 'group'")
        item, repeated = _value_type(field.annotation)
        yield Setting(name=name, field=field, flag=f"--{flag}",
                      env=prefix + flag.upper().replace("-", "_"), group=group,
                      metavar=metavar if isinstance(metavar, str) else None, item=item,
                      repeated=repeated, switch=item is bool)


def add_flags(parser: argparse.ArgumentParser, models: tuple[type[BaseModel], ...],
              prefix: str, groups: Mapping[str, str]) -> None:
    """Add one flag per setting of ``models``, in ``groups`` (title: description)."""
    sections = {title: parser.add_argument_group(title, textwrap.fill(description, 86))
                for title, description in groups.items()}
    seen: set[str] = set()
    for model in models:
        for setting in settings_of(model, prefix):
            if setting.name in seen:
                raise TypeError(f"two settings models define {setting.name!r}")
            seen.add(setting.name)
            if setting.group not in sections:
                raise TypeError(f"{model.__name__}.{setting.name}: unknown group "
                                f"{setting.group!r}")
            section = sections[setting.group]
            if setting.switch:
                section.add_argument(setting.flag, dest=setting.name, action="store_true",
                                     default=None, help=setting.help())
            else:
                section.add_argument(
                    setting.flag, dest=setting.name, default=None,
                    action="append" if setting.repeated else "store",
                    type=setting.convert, metavar=setting.metavar, help=setting.help())


def read_settings(model: type[M], args: argparse.Namespace, environ: Mapping[str, str],
                  prefix: str, **fixed: Any) -> M:
    """``model`` from flags, then the environment, then its defaults.

    ``fixed`` gives fields that are never flags (the token). Raises
    :class:`SettingsError`, each problem naming the flag or variable it came from.
    """
    values: dict[str, Any] = dict(fixed)
    sources: dict[str, str] = {}
    unset: dict[str, str] = {}
    for setting in settings_of(model, prefix):
        unset[setting.name] = f"{setting.flag} (or {setting.env})"
        given = getattr(args, setting.name, None)
        if given is not None:
            values[setting.name] = tuple(given) if setting.repeated else given
            sources[setting.name] = setting.flag
            continue
        raw = environ.get(setting.env, "").strip()
        if not raw:  # unset and empty alike: the default
            continue
        values[setting.name] = (tuple(part.strip() for part in raw.split(",") if part.strip())
                                if setting.repeated else raw)
        sources[setting.name] = setting.env
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            where = problem["loc"][0] if problem["loc"] else None
            source = (sources.get(str(where)) or unset.get(str(where))
                      if where is not None else None)
            message = _message(problem)
            problems.append(f"{source}: {message}" if source else message)
        raise SettingsError(problems) from None


def unknown_variables(models: tuple[type[BaseModel], ...], environ: Mapping[str, str],
                      prefix: str) -> list[str]:
    """Variables with ``prefix`` that are no setting (a typo is otherwise silent)."""
    known = {setting.env for model in models for setting in settings_of(model, prefix)}
    return sorted(name for name in environ if name.startswith(prefix) and name not in known)


def _value_type(annotation: Any) -> tuple[Any, bool]:
    """``(type of one value, repeated)`` of an annotation."""
    if get_origin(annotation) in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(present) != 1:
            raise TypeError(f"a setting must have one type (or it and None): {annotation}")
        annotation = present[0]
    if get_origin(annotation) is tuple:
        args = get_args(annotation)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"a repeated setting is tuple[X, ...], not {annotation}")
        return args[0], True
    return annotation, False


def _message(problem: ErrorDetails) -> str:
    if problem["type"] == "missing":
        return "required, and not given"
    return problem["msg"].removeprefix("Value error, ")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
