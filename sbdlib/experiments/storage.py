"""Where a sweep's checkpoints live: a local (or shared) folder, or any fsspec URL.

:func:`open_storage` turns what the user gave (``--storage``) into a :class:`Storage`:

* a plain path (``/mnt/nfs/sweep``, ``runs/sweep``) is used as it is: training writes its
  checkpoints there directly, atomically, every periodic checkpoint. On a Ray cluster with
  more than one machine the folder must be shared by all of them (NFS and the like);
* a URL (``s3://bucket/sweep``, ``gs://...``, ``file:///...``: anything fsspec opens, with
  its package installed, e.g. ``s3fs``) is synced: before a configuration trains, its
  checkpoints are downloaded into a task-local folder; while it trains, every checkpoint that
  changed is uploaded every ``sync_seconds``; when it ends (or fails) once more. A task that
  dies therefore loses at most ``sync_seconds`` plus one checkpoint interval of work.

Nothing here imports fsspec until a URL is used. Checkpoints stay what
:mod:`sbdlib.training.checkpoints` writes: atomic files that load without running pickled code;
uploads go to a temporary name first and are then moved over the target.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

SYNC_SECONDS = 30.0  # how often a task uploads changed checkpoints to a URL storage
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(location: str | os.PathLike) -> bool:
    """Whether ``location`` names an fsspec URL (``scheme://...``) rather than a local path."""
    return bool(_URL.match(str(location)))


@dataclass(frozen=True)
class Storage:
    """A checkpoint folder: a local path used directly, or a URL synced through fsspec (see the module docstring).

    Attributes:
        location: An absolute local path, or the URL as given.
        sync_seconds: Seconds between uploads of changed checkpoints while training (URLs only).
    """

    location: str
    sync_seconds: float = SYNC_SECONDS

    @property
    def is_local(self) -> bool:
        """Whether training writes here directly (a local or shared folder)."""
        return not is_url(self.location)

    def _fs(self):
        """The fsspec filesystem and root path of a URL storage (one clear error without fsspec or its backend)."""
        try:
            import fsspec
        except ImportError:
            raise RuntimeError(f"--storage {self.location} is a URL and needs fsspec: "
                               f"pip install -e '.[distributed]'") from None
        try:
            fs, root = fsspec.core.url_to_fs(self.location)
        except (ImportError, ValueError) as exc:
            raise RuntimeError(f"cannot open --storage {self.location}: {exc}") from None
        return fs, root.rstrip("/")

    def check_writable(self) -> None:
        """Create the folder and write, read and delete a probe file: one clear error before any training."""
        probe = f".sbdlib-probe-{uuid.uuid4().hex}"
        try:
            if self.is_local:
                root = Path(self.location)
                root.mkdir(parents=True, exist_ok=True)
                (root / probe).write_bytes(b"ok")
                ok = (root / probe).read_bytes() == b"ok"
                (root / probe).unlink()
            else:
                fs, root = self._fs()
                fs.makedirs(root, exist_ok=True)
                fs.pipe_file(f"{root}/{probe}", b"ok")
                ok = fs.cat_file(f"{root}/{probe}") == b"ok"
                fs.rm_file(f"{root}/{probe}")
        except OSError as exc:
            raise ValueError(f"storage {self.location} cannot be written ({type(exc).__name__}: {exc}); give "
                             f"--storage a folder or URL this machine (and every Ray node) can write") from None
        if not ok:
            raise ValueError(f"storage {self.location} did not give back what was written to it; "
                             f"give another --storage")

    def remove(self, names: Sequence[str]) -> None:
        """Delete these checkpoints (a retrain starts afresh; done once, before any task, so a retry resumes)."""
        if self.is_local:
            for name in names:
                Path(self.location, name).unlink(missing_ok=True)
            return
        fs, root = self._fs()
        for name in names:
            if fs.exists(f"{root}/{name}"):
                fs.rm_file(f"{root}/{name}")

    @contextmanager
    def local_folder(self, names: Sequence[str]) -> Iterator[Path]:
        """A local folder holding these checkpoints while a configuration trains; a URL's is synced back.

        A local storage is its own folder. For a URL: the existing checkpoints among ``names``
        are downloaded into a temporary folder, uploaded while they change and once more at
        the end (also on an error), and the folder is removed.
        """
        if self.is_local:
            yield Path(self.location)
            return
        fs, root = self._fs()
        fs.makedirs(root, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="sbdlib-storage-"))
        sync = _Sync(fs, root, folder, names)
        try:
            sync.download()
            sync.start(self.sync_seconds)
            yield folder
        finally:
            sync.stop()
            shutil.rmtree(folder, ignore_errors=True)


class _Sync:
    """Uploads a folder's checkpoints to a URL whenever they change (a thread), and downloads them first."""

    def __init__(self, fs, root: str, folder: Path, names: Sequence[str]) -> None:
        self.fs, self.root, self.folder, self.names = fs, root, folder, list(names)
        self.uploaded: dict[str, int] = {}  # name -> mtime_ns of the version uploaded
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def download(self) -> None:
        """Fetch the checkpoints that exist remotely (they are complete: uploads are moved into place)."""
        for name in self.names:
            if self.fs.exists(f"{self.root}/{name}"):
                self.fs.get_file(f"{self.root}/{name}", str(self.folder / name))
                self.uploaded[name] = (self.folder / name).stat().st_mtime_ns

    def upload_changed(self) -> None:
        """Upload every checkpoint written since its last upload, to a temporary name moved over the target."""
        for name in self.names:
            path = self.folder / name
            try:
                mtime = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if self.uploaded.get(name) == mtime:
                continue
            tmp = f"{self.root}/{name}.{uuid.uuid4().hex}.tmp"
            self.fs.put_file(str(path), tmp)  # the local file is replaced atomically, so this copy is complete
            self.fs.mv(tmp, f"{self.root}/{name}")
            self.uploaded[name] = mtime

    def _loop(self, seconds: float) -> None:
        """Upload what changed every ``seconds`` until stopped."""
        while not self.done.wait(seconds):
            try:
                self.upload_changed()
            except OSError as exc:  # a storage hiccup: training goes on, the next pass (or stop) tries again
                print(f"sbdlib.experiments.storage: upload to {self.root} failed ({type(exc).__name__}: {exc}); retrying later",
                      flush=True)

    def start(self, seconds: float) -> None:
        """Begin uploading in the background."""
        self.thread = threading.Thread(target=self._loop, args=(seconds,), daemon=True, name="sbdlib-storage-sync")
        self.thread.start()

    def stop(self) -> None:
        """Stop the thread and upload what changed since its last pass."""
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        self.upload_changed()


def open_storage(location: str | os.PathLike, sync_seconds: float = SYNC_SECONDS) -> Storage:
    """The :class:`Storage` for ``--storage``: a local path made absolute (workers start elsewhere), or a URL."""
    if not str(location).strip():
        raise ValueError("--storage is empty; give a folder (e.g. runs/sweep) or a URL (e.g. s3://bucket/sweep)")
    if not sync_seconds > 0:
        raise ValueError(f"sync_seconds must be positive, got {sync_seconds}")
    text = str(location)
    return Storage(text if is_url(text) else str(Path(text).expanduser().resolve()), float(sync_seconds))
