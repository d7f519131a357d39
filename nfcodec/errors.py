"""One exception hierarchy, so the CLI can turn any expected failure into a one-line message."""


class NfcError(Exception):
    """Base class of every error nfcodec raises on purpose."""


class InputError(NfcError):
    """The user's input (image, path, option) cannot be used."""


class FormatError(NfcError):
    """A byte stream is not a valid .nfc file."""


class UnsupportedVersion(FormatError):
    """The file declares a format version this decoder does not implement."""


class CorruptStream(FormatError):
    """The file is damaged: bad CRC, truncation, or values outside their bounds."""


class UnknownComponent(FormatError):
    """The file names a field kind, section or coder this decoder does not know."""


class LimitExceeded(NfcError):
    """A valid input would cost more (pixels, work, bytes) than the caller's limit allows."""
