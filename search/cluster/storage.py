"""Where a search keeps its results and checkpoints (Ray's ``storage_path``): resolved once
at each entry point, and checked for a multi-node cluster.

``resolve_storage`` turns a local path into an absolute one (Ray and ``ExperimentAnalysis``
read a relative path as a URI with an empty scheme) and leaves a URI as given.

On a multi-node cluster each trial writes its checkpoints from the node it runs on, and a trial
restored after a node loss resumes on another node: the storage must therefore be readable
and writable by every node. :func:`require_shared_storage` enforces that rule:

- A URI with a remote scheme (``s3://``, ``gs://``, ``abfss://``, ``hdfs://``, ...; anything with
  ``scheme://`` other than ``file://``) is shared.
- A plain path or a ``file://`` URI is local, unless the caller declares it shared: keyword
  ``shared=True`` (``search/run.py --shared-storage``) or the environment variable
  ``NTM_SHARED_STORAGE=1``. Use that for a directory mounted at the same path on every node (NFS);
  Ray cannot tell an NFS mount from a local disk, so the declaration is explicit.
- A local path is refused when Ray is connected to a multi-node cluster (``nodes.is_multinode``).
  Without Ray initialised, or on one node, nothing is checked.

Remote storage is read and written through pyarrow's filesystems, as Ray does: ``s3://``
takes its credentials, region and endpoint from the usual AWS variables
(``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...). :func:`require_reachable_storage` checks
that a remote bucket exists and answers, before anything is written.

Example::

    >>> resolve_storage("s3://my-bucket/ray-results/")
    's3://my-bucket/ray-results'
    >>> require_shared_storage("s3://my-bucket/ntm-search/ray-results")  # passes
    >>> require_shared_storage("/home/me/ray_results")  # doctest: +SKIP
    Traceback (most recent call last):
    ntm.cli.UsageError: --storage-path '/home/me/ray_results' is local to one machine, ...
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs

from ntm.cli import UsageError
from ntm.errors import first_line
from search.cluster.nodes import alive_nodes, is_multinode

SHARED_STORAGE_ENV = "NTM_SHARED_STORAGE"
DEFAULT_STORAGE_PATH = "./ray_results"  # relative to the working directory of the entry point
_TRUE = ("1", "true", "yes", "on")

__all__ = [
    "DEFAULT_STORAGE_PATH",
    "SHARED_STORAGE_ENV",
    "download",
    "filesystem",
    "is_remote_uri",
    "is_uri",
    "require_reachable_storage",
    "require_shared_storage",
    "resolve_storage",
    "storage_uri",
]


def is_uri(storage_path: str) -> bool:
    """True for any ``scheme://...``, ``file://`` included: a location read through pyarrow
    (``filesystem``), not ``pathlib``."""
    return "://" in storage_path


def is_remote_uri(storage_path: str) -> bool:
    """True for ``scheme://...`` with any scheme but ``file`` (``s3://b/p``, ``gs://b/p``)."""
    scheme = urlparse(storage_path).scheme
    return is_uri(storage_path) and bool(scheme) and scheme.lower() != "file"


def resolve_storage(storage_path: str) -> str:
    """An absolute local path (``~`` expanded), or a URI (``s3://...``) without a trailing /."""
    if is_uri(storage_path):
        return storage_path.rstrip("/")
    return str(Path(storage_path).expanduser().resolve())


def _declared_shared(shared: bool) -> bool:
    return shared or os.environ.get(SHARED_STORAGE_ENV, "").strip().lower() in _TRUE


def require_shared_storage(storage_path: str, *, shared: bool = False) -> None:
    """Raise UsageError when a multi-node cluster would checkpoint to one machine's disk.

    ``storage_path`` is Ray Tune's ``storage_path``; ``shared=True`` (or NTM_SHARED_STORAGE=1)
    declares a plain or ``file://`` path to be a mount every node shares, such as NFS.
    Call it after ``ray.init``; see the module docstring for the full rule.
    """
    if is_remote_uri(storage_path) or _declared_shared(shared):
        return
    nodes = alive_nodes()
    if not is_multinode(nodes):
        return
    raise UsageError(
        f"--storage-path {storage_path!r} is local to one machine, but Ray is connected to a "
        f"cluster of {len(nodes)} alive node(s) whose trials checkpoint and resume on different "
        "machines; use shared storage (s3://BUCKET/PATH, gs://BUCKET/PATH) or, for a directory "
        f"mounted on every node (NFS), add --shared-storage or set {SHARED_STORAGE_ENV}=1."
    )


def filesystem(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """pyarrow's filesystem of a URI or an absolute local path, and the path within it."""
    fs, path = pyarrow.fs.FileSystem.from_uri(location)
    return fs, path.rstrip("/")


def storage_uri(fs: pyarrow.fs.FileSystem, path: str) -> str:
    """The location of ``path`` in ``fs`` as one string: a URI, or a local path as it is."""
    if isinstance(fs, pyarrow.fs.LocalFileSystem):
        return path
    scheme = {"gcs": "gs"}.get(fs.type_name, fs.type_name)
    return f"{scheme}://{path}"


def require_reachable_storage(storage_path: str) -> None:
    """UsageError (one line) when a remote storage's bucket is missing or does not answer."""
    if not is_remote_uri(storage_path):
        return
    try:
        fs, path = filesystem(storage_path)
        bucket = path.split("/", 1)[0]
        missing = fs.get_file_info(bucket).type == pyarrow.fs.FileType.NotFound
    except (OSError, ValueError) as exc:  # no endpoint, refused credentials, bad URI
        raise UsageError(
            f"--storage-path {storage_path} cannot be reached: {first_line(exc)}"
        ) from None
    if missing:
        raise UsageError(f"--storage-path {storage_path}: bucket {bucket!r} does not exist.")


def download(location: str, local_dir: Path) -> Path:
    """Copy a directory from storage (URI or local path) into ``local_dir``; ``local_dir``."""
    fs, path = filesystem(location)
    local_dir.mkdir(parents=True, exist_ok=True)
    pyarrow.fs.copy_files(path, str(local_dir), source_filesystem=fs,
                          destination_filesystem=pyarrow.fs.LocalFileSystem())  # fmt: skip
    return local_dir
