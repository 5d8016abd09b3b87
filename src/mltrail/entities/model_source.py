"""Checking a model version's ``source``: where its files are, and whether the registry may
point there. Pure: the store looks up the run and the logged model, this module decides.

A registered version is later downloaded from its source by anyone who may read the model,
so a source must not reach what its author could not read (MLflow's CVE-2023-1177 and its
successors): files elsewhere on the server, other runs' artifacts, or services inside the
server's network. The rules:

* every source: a non-empty string of at most 500 characters, without control characters
  or ``..`` path segments, even after URL-decoding it again and again, and with ``\\`` taken
  as a separator;
* ``runs:/<run_id>/<path>``: the run must be the version's run (when one is given; when
  none is, it becomes the version's run); its files are under the run's artifact root;
* ``models:/m-<id>``: a logged model (the one named by ``model_id`` when one is given); its
  files are at the model's artifact location. ``models:/<name>/<version>`` names another
  registered version, whose files it shares;
* a local path (absolute, or a ``file:`` URI): only inside the run's artifact directory, the
  logged model's artifact location, or, when no run is given, the store's artifact root;
* ``mlflow-artifacts:``: under the run's (or logged model's) artifact root when one is given;
* ``http(s)://``: not to a loopback, private, link-local or otherwise internal host;
* other schemes (``s3://``, ``gs://``, ``wasbs://``, ...): remote stores, accepted.

``check_source`` returns where the files are (the download URI); ``references`` says which
run, logged model or registered version a source names, for the store to look up first.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import posixpath
import re
from urllib.parse import unquote, urlsplit

from mltrail.entities.logged_model import is_model_id
from mltrail.entities.registry import MAX_SOURCE_LENGTH
from mltrail.errors import InvalidArgument

_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*$")
_MAX_DECODE_ROUNDS = 10
_INTERNAL_HOST_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")
_INTERNAL_HOSTS = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_LOCAL_HOST_NAMES = ("", "localhost")
_NUMERIC_HOST_RE = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")
# Schemes a browser would run or inline when the UI shows the source as a link.
_ACTIVE_SCHEMES = ("javascript", "data", "vbscript", "blob")


@dataclasses.dataclass(frozen=True)
class SourceReferences:
    """What a source names, for the store to look up before ``check_source``."""

    run_id: str | None = None  # runs:/<run_id>/...
    model_id: str | None = None  # models:/m-<id>
    registered: tuple[str, int] | None = None  # models:/<name>/<version>


def _refuse(source: str, why: str) -> InvalidArgument:
    shown = source if len(source) <= 300 else source[:300] + "..."
    return InvalidArgument(f"Invalid model version source {shown!r}: {why}")


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _decodings(source: str) -> list[str]:
    """The source and each of its URL-decodings, until decoding changes nothing."""
    forms = [source]
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            return forms
        forms.append(decoded)
    raise _refuse(source, f"it is still URL-encoded after {_MAX_DECODE_ROUNDS} decodings")


def _check_text(source: object) -> str:
    if not isinstance(source, str):
        raise InvalidArgument(f"Invalid model version source {source!r}: must be a string")
    if not source.strip():
        raise InvalidArgument("Model version source must not be empty")
    if len(source) > MAX_SOURCE_LENGTH:
        raise _refuse(
            source, f"it is {len(source)} characters; the limit is {MAX_SOURCE_LENGTH}"
        )
    for form in _decodings(source):
        if _has_control(form):
            raise _refuse(source, "it contains a control character (such as NUL or a newline)")
        if ".." in form.replace("\\", "/").split("/"):
            raise _refuse(source, "it contains a '..' path segment")
    if "\\" in source:
        raise _refuse(source, "it contains a backslash; use '/' to separate path segments")
    if source != source.strip():
        raise _refuse(source, "it has leading or trailing whitespace")
    return source


def _scheme(source: str) -> str:
    """The source's scheme in lower case, '' for a bare path; odd forms refused."""
    if source.startswith(":"):
        raise _refuse(source, "it has an empty URI scheme")
    head, sep, _ = source.partition(":")
    if not sep or "/" in head:
        if source.startswith("//"):
            raise _refuse(source, "it names a host but no URI scheme")
        return ""
    if not _SCHEME_RE.match(head):
        raise _refuse(source, f"'{head}' is not a valid URI scheme")
    if len(head) == 1:
        raise _refuse(source, "Windows drive paths are not supported; give an absolute path")
    return head.lower()


def _registered_reference(source: str, path: str) -> tuple[str, int]:
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) > 0 and parts[0]:
        return parts[0], int(parts[1])
    raise _refuse(
        source,
        "a models:/ source must be models:/m-<32 hex digits> (a logged model) or "
        "models:/<name>/<version> (a registered model version)",
    )


def references(source: str) -> SourceReferences:
    """The run, logged model or registered version ``source`` names (after checking its
    text); the store looks them up and passes what it found to ``check_source``."""
    source = _check_text(source)
    scheme = _scheme(source)
    if scheme == "runs":
        parts = urlsplit(source)
        if parts.netloc or not parts.path.startswith("/"):
            raise _refuse(source, "a runs:/ source must be runs:/<run_id>/<path>")
        run_id = parts.path.lstrip("/").split("/", 1)[0]
        if not run_id:
            raise _refuse(source, "a runs:/ source must name a run: runs:/<run_id>/<path>")
        return SourceReferences(run_id=run_id)
    if scheme == "models":
        parts = urlsplit(source)
        if parts.netloc or parts.query or parts.fragment:
            raise _refuse(
                source, "a models:/ source must name this registry's models, without a host"
            )
        candidate = parts.path.strip("/")
        if is_model_id(candidate):
            return SourceReferences(model_id=candidate)
        return SourceReferences(registered=_registered_reference(source, parts.path))
    return SourceReferences()


def _local_path(source: str, scheme: str) -> str:
    """The absolute POSIX path a bare path or ``file:`` URI names."""
    if scheme == "file":
        parts = urlsplit(source)
        if parts.netloc.lower() not in _LOCAL_HOST_NAMES:
            raise _refuse(source, f"a file: URI must not name a host ({parts.netloc!r})")
        if parts.query or parts.fragment:
            raise _refuse(source, "a file: URI must not have a query or fragment")
        path = unquote(parts.path)
    else:
        path = source
    if not path.startswith("/"):
        raise _refuse(source, "a local path must be absolute")
    return posixpath.normpath(re.sub("/+", "/", path))


def _as_local(uri: str | None) -> str | None:
    """The absolute path of a local artifact root, None when it is not local."""
    if not uri:
        return None
    scheme = uri.split(":", 1)[0].lower() if ":" in uri.split("/", 1)[0] else ""
    if scheme == "file":
        parts = urlsplit(uri)
        if parts.netloc.lower() not in _LOCAL_HOST_NAMES:
            return None
        path = unquote(parts.path)
    elif scheme == "":
        path = uri
    else:
        return None
    if not path.startswith("/"):
        return None
    return posixpath.normpath(re.sub("/+", "/", path))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _uri_parts(uri: str) -> tuple[str, str, list[str]]:
    parts = urlsplit(uri)
    segments = [s for s in unquote(parts.path).split("/") if s and s != "."]
    return parts.scheme.lower(), parts.netloc.lower(), segments


def _uri_inside(source: str, root: str | None) -> bool:
    if not root:
        return False
    scheme, host, segments = _uri_parts(source)
    root_scheme, root_host, root_segments = _uri_parts(root)
    return (
        scheme == root_scheme
        and host == root_host
        and segments[: len(root_segments)] == root_segments
    )


def _is_internal_host(host: str) -> bool:
    name = host.strip("[]").lower().rstrip(".")
    if not name or name in _INTERNAL_HOSTS or name.endswith(_INTERNAL_HOST_SUFFIXES):
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        # Numeric spellings a resolver still accepts (2130706433, 0x7f000001, 0177.0.0.1,
        # 127.1) are refused whatever they name: nobody writes a public host so.
        if _NUMERIC_HOST_RE.fullmatch(name):
            return True
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _check_http(source: str) -> None:
    parts = urlsplit(source)
    try:
        host = parts.hostname or ""
    except ValueError:
        raise _refuse(source, "its host is malformed") from None
    if parts.username is not None or parts.password is not None:
        raise _refuse(source, "it must not carry credentials")
    if _is_internal_host(host):
        raise _refuse(
            source,
            f"the host {host!r} is a loopback, private, link-local or internal address",
        )


def check_source(
    source: str,
    *,
    run_id: str | None,
    run_artifact_uri: str | None,
    model_id: str | None = None,
    model_artifact_uri: str | None = None,
    store_artifact_root: str | None = None,
    registered_uri: str | None = None,
) -> str:
    """Check ``source`` for a version of ``run_id`` (whose files are at ``run_artifact_uri``)
    and of logged model ``model_id`` (files at ``model_artifact_uri``), and return where its
    files are. ``registered_uri`` is the download URI of the version a
    ``models:/<name>/<version>`` source names. Raises ``InvalidArgument`` naming the source
    and the rule it breaks."""
    refs = references(source)
    scheme = _scheme(source)
    if refs.run_id is not None:
        if run_id is not None and refs.run_id != run_id:
            raise _refuse(
                source, f"it names run {refs.run_id!r} but the version's run is {run_id!r}"
            )
        if not run_artifact_uri:
            raise _refuse(source, f"the artifact root of run {refs.run_id!r} is unknown")
        path = urlsplit(source).path.lstrip("/").split("/", 1)
        rest = path[1].strip("/") if len(path) > 1 else ""
        root = run_artifact_uri.rstrip("/")
        return f"{root}/{rest}" if rest else root
    if refs.model_id is not None:
        if model_id is not None and refs.model_id != model_id:
            raise _refuse(
                source, f"it names logged model {refs.model_id!r} but model_id is {model_id!r}"
            )
        if not model_artifact_uri:
            raise _refuse(source, f"the artifact location of model {refs.model_id!r} is unknown")
        return model_artifact_uri
    if refs.registered is not None:
        if not registered_uri:
            name, version = refs.registered
            raise _refuse(source, f"model version {name!r} version {version} is unknown")
        return registered_uri
    if scheme in ("", "file"):
        local = _local_path(source, scheme)
        local_roots = [_as_local(run_artifact_uri), _as_local(model_artifact_uri)]
        if run_id is None:
            local_roots.append(_as_local(store_artifact_root))
        if any(root is not None and _inside(local, root) for root in local_roots):
            return source
        raise _refuse(
            source,
            "a local path must lie inside the artifact directory of the version's run "
            "(give run_id) or of its logged model (give model_id)"
            + ("" if run_id is not None else ", or inside the store's artifact root"),
        )
    if scheme == "mlflow-artifacts":
        roots = [r for r in (run_artifact_uri, model_artifact_uri) if r is not None]
        if roots and not any(_uri_inside(source, root) for root in roots):
            raise _refuse(
                source,
                "an mlflow-artifacts: source must lie under the artifact root of the "
                "version's run or logged model (" + ", ".join(roots) + ")",
            )
        return source
    if scheme in ("http", "https"):
        _check_http(source)
        return source
    if scheme in _ACTIVE_SCHEMES:
        raise _refuse(source, f"{scheme}: URIs are not model locations")
    return source
