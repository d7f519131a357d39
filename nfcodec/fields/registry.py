"""Name <-> field class <-> wire id. The ids themselves live in container.spec only."""

from __future__ import annotations

from nfcodec.container.spec import FieldKind
from nfcodec.errors import InputError, UnknownComponent
from nfcodec.fields.base import Field, FieldConfig
from nfcodec.fields.coordinate import CoordMlpField
from nfcodec.fields.diner import DinerField
from nfcodec.fields.hashgrid import HashGridField
from nfcodec.fields.loe import LoeField

_BY_NAME: dict[str, type[Field]] = {}
_BY_KIND: dict[FieldKind, type[Field]] = {}


def register(name: str, cls: type[Field]) -> None:
    """Add a field kind; a duplicate name or wire id is a programming error."""
    if name in _BY_NAME or cls.kind in _BY_KIND:
        raise ValueError(f"field {name!r} / kind {cls.kind!r} registered twice")
    _BY_NAME[name] = cls
    _BY_KIND[cls.kind] = cls


register("hashgrid", HashGridField)
register("diner", DinerField)
register("loe", LoeField)
register("siren", CoordMlpField)  # COIN's SIREN; `backbone=0` makes it a PE-MLP


def field_names() -> list[str]:
    return sorted(_BY_NAME)


def field_class(name: str) -> type[Field]:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InputError(
            f"unknown field {name!r}; choose from {', '.join(field_names())}"
        ) from None


def field_class_for_kind(kind: FieldKind) -> type[Field]:
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise UnknownComponent(f"field kind {int(kind)} is not supported by this decoder") from None


def name_of(cls: type[Field]) -> str:
    return next(name for name, c in _BY_NAME.items() if c is cls)


def build_field(
    config: FieldConfig, height: int, width: int, channels: int, with_latents: bool = True
) -> Field:
    cls = field_class_for_kind(config.kind)
    return cls(config, height, width, channels, with_latents)
