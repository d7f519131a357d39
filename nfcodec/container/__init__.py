"""The .nfc container: header, sections, CRCs. Standard library only (no numpy, no torch)."""

from nfcodec.container.header import Header
from nfcodec.container.nfc import (
    HEADER_PREFIX_BYTES,
    NfcFile,
    NfcInfo,
    Section,
    describe,
    read_header,
    read_info,
    read_nfc,
    write_nfc,
)
from nfcodec.container.spec import (
    FIELD_PARAMS,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    FieldKind,
    ParamSpec,
    SectionKind,
)

__all__ = [
    "HEADER_PREFIX_BYTES",
    "FIELD_PARAMS",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "MAGIC",
    "FieldKind",
    "Header",
    "NfcFile",
    "NfcInfo",
    "ParamSpec",
    "Section",
    "SectionKind",
    "describe",
    "read_header",
    "read_info",
    "read_nfc",
    "write_nfc",
]
