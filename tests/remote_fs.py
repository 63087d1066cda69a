"""A Beam FileSystem for tests that behaves like an object store (``xdsfake://``: no folders, listing by prefix)
and keeps its objects in a local folder. Paths the pipeline sees are ``xdsfake://...`` only, so a run on it proves
that inputs, the KB and the output go through ``FileSystems`` (as ``gs://`` would on Dataflow), not local APIs.

Importing this module registers the scheme (Beam finds FileSystem subclasses); set ``FakeObjectStore.root``.
"""

from __future__ import annotations

import os
import shutil

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "xdsfake"
PREFIX = f"{SCHEME}://"


class FakeObjectStore(LocalFileSystem):
    root = ""  # the local folder holding the objects (a test sets it)

    @classmethod
    def scheme(cls):
        return SCHEME

    def local(self, path: str) -> str:
        if not path.startswith(PREFIX):
            raise ValueError(f"not an {SCHEME} path: {path}")
        return os.path.join(self.root, path[len(PREFIX):])

    def remote(self, path: str) -> str:
        return PREFIX + os.path.relpath(path, self.root).replace(os.sep, "/")

    def has_dirs(self):
        return False

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path):
        os.makedirs(self.local(path), exist_ok=True)  # an object store has no folders: always succeeds

    def _url_dirname(self, url_or_path):
        return url_or_path.rsplit("/", 1)[0]

    def _list(self, dir_or_prefix):
        local = self.local(dir_or_prefix)
        base = local if os.path.isdir(local) else os.path.dirname(local)
        for folder, _, names in os.walk(base):
            for name in names:
                path = os.path.join(folder, name)
                remote = self.remote(path)
                if remote.startswith(dir_or_prefix):
                    yield FileMetadata(remote, os.path.getsize(path), os.path.getmtime(path))

    def create(self, path, *args, **kwargs):
        os.makedirs(os.path.dirname(self.local(path)), exist_ok=True)
        return super().create(self.local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self.local(path), *args, **kwargs)

    def copy(self, source_file_names, destination_file_names):
        super().copy([self.local(p) for p in source_file_names], [self.local(p) for p in destination_file_names])

    def rename(self, source_file_names, destination_file_names):
        for target in destination_file_names:
            os.makedirs(os.path.dirname(self.local(target)), exist_ok=True)
        super().rename([self.local(p) for p in source_file_names], [self.local(p) for p in destination_file_names])

    def exists(self, path):
        local = self.local(path)
        if os.path.isdir(local):  # a "folder" exists while an object is under it
            return any(names for _, _, names in os.walk(local))
        return os.path.exists(local)

    def size(self, path):
        return super().size(self.local(path))

    def last_updated(self, path):
        return super().last_updated(self.local(path))

    def checksum(self, path):
        return super().checksum(self.local(path))

    def metadata(self, path):
        meta = super().metadata(self.local(path))
        return FileMetadata(path, meta.size_in_bytes, meta.last_updated_in_seconds)

    def delete(self, paths):
        for path in map(self.local, paths):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
