"""The gate every user-supplied relative artifact path passes through.

``safe_relative_path`` turns what a caller typed into a normalised POSIX path relative to an
artifact root ("" for the root itself), or refuses it with ``InvalidArgument``. The rules are
deliberately blunt: anything that could mean "somewhere else" once it reaches a filesystem, an
object store or a URL parser is refused, rather than interpreted.

Refused: ``..`` segments; absolute paths (``/x``, ``C:\\x``, ``C:/x``, ``\\\\server\\share``);
backslashes; ``://`` anywhere and a first segment shaped like a URL scheme (``http:x``);
percent-encoded text (``%`` followed by two hex digits, so nothing decodes to something else);
``;``, ``?`` and ``#``; control characters. Accepted and normalised: ``./`` segments, repeated
and trailing slashes. A colon later in the path is an ordinary character (``ckpt/epoch:3``).
"""

from __future__ import annotations

import re

from mltrail.errors import InvalidArgument

__all__ = ["join_artifact_uri", "safe_relative_path"]

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")
_URL_DELIMITERS = (";", "?", "#")


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0


def _reason_to_refuse(path: str) -> str | None:
    """Why ``path`` is unsafe, or None. The order picks the most telling reason first."""
    if any(_is_control(char) for char in path):
        return "control characters (such as NUL) are not allowed"
    if path.startswith(("/", "\\")) or _DRIVE_PREFIX.match(path):
        return "absolute paths are not allowed, give a path relative to the artifact root"
    if "\\" in path:
        return "backslashes are not allowed, use '/' to separate directories"
    if "://" in path or _SCHEME_PREFIX.match(path):
        return "URL schemes are not allowed inside an artifact path"
    if _PERCENT_ESCAPE.search(path):
        return "percent-encoded characters are not allowed"
    for delimiter in _URL_DELIMITERS:
        if delimiter in path:
            return "';', '?' and '#' (path parameters, queries, fragments) are not allowed"
    if ".." in path.split("/"):
        return "'..' segments are not allowed"
    return None


def safe_relative_path(path: str | None, field: str = "artifact path") -> str:
    """``path`` normalised to a POSIX path relative to the root ("" is the root itself).

    ``field`` names the argument in the error message, e.g. ``Invalid artifact path '../x':
    '..' segments are not allowed``.
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        raise InvalidArgument(f"Invalid {field} {path!r}: expected a string")
    reason = _reason_to_refuse(path)
    if reason is not None:
        raise InvalidArgument(f"Invalid {field} {path!r}: {reason}")
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def join_artifact_uri(base_uri: str, rel: str) -> str:
    """``base_uri`` with the checked relative path ``rel`` appended, one ``/`` between them.

    The relative part is validated with ``safe_relative_path`` and appended as is: it cannot
    contain ``%``-escapes, ``?`` or ``#``, so it never needs quoting to stay inside the URI path.
    """
    clean = safe_relative_path(rel)
    if not clean:
        return base_uri
    if base_uri.endswith("/"):
        return base_uri + clean
    return f"{base_uri}/{clean}"
