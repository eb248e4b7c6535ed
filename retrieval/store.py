"""The local index on disk: FAISS vectors + BM25 + chunk metadata in SQLite, written atomically.

Layout of an index folder::

    DIR/CURRENT        name of the live version (replaced atomically with os.replace)
    DIR/v-<stamp>/     manifest.json, vectors.npy, faiss.index, meta.sqlite, lexical/, multilingual.npy

``multilingual.npy`` (USE multilingual v3 vectors of the chunks, the dense list of Spanish and cross-language
queries) is absent from indexes written before it existed, and from those ingested with ``multilingual_dense`` off.

A write builds a complete new version folder beside the live one and only then swaps ``CURRENT``; a crash at any
point before the swap leaves the previous version untouched and readable. Older versions are removed after it.

Every atomic write of the project (this index, ``finetune.output``'s published folders, ``data redact``'s file)
calls :func:`retrieval.signals.raise_if_interrupted` right before its commit, so a SIGINT/SIGTERM whose
KeyboardInterrupt was swallowed still stops the command before it commits anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.lexical import LexicalIndex
from retrieval.references import References, embed_text
from retrieval.sentences import SentenceVectors
from retrieval.signals import raise_if_interrupted

FORMAT_VERSION = 1
MULTILINGUAL_FILE = "multilingual.npy"
CURRENT = "CURRENT"
_VERSION_NAME = re.compile(r"v-[0-9A-Za-z-]{1,64}")  # as write_version names them


class IndexFault(RuntimeError):
    """An index folder that cannot be read or written (missing, corrupt, locked)."""


def make_folders(folder: Path, what: str, error: type[Exception] = IndexFault) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created (outermost first) for :func:`remove_folders`.

    Args:
        folder: the folder to create.
        what: the option that named it (``--index``, ``--out``), for the message.
        error: the caller's exception type.

    Raises:
        error: ``folder`` or a parent is a file, or the place cannot be written; the message names both.
    """
    created = []
    for path in [folder, *folder.parents]:
        if path.is_dir():
            break
        if path.exists() or path.is_symlink():
            where = f"{what} {folder} is" if path == folder else f"{what} {folder}: {path} is"
            raise error(f"{where} a file, not a folder; give a folder path")
        created.append(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_folders(created[::-1])
        raise error(f"{what} {folder}: cannot create it ({exc.strerror}); give a writable folder path") from exc
    return created[::-1]


def remove_folders(created: list[Path]) -> None:
    """Remove the folders :func:`make_folders` created, deepest first, when they are empty (a failed command)."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()


@dataclass
class StoredDocument:
    """A document row of the metadata database."""

    id: str
    title: str
    lang: str
    text: str
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    translation_of: str | None = None
    updated: str | None = None
    source: str = ""
    content_hash: str = ""
    duplicate_of: str | None = None  # set when dedup kept another document instead of this one


@dataclass
class IndexData:
    """Everything one version of an index holds, in memory."""

    manifest: dict[str, Any]
    documents: dict[str, StoredDocument]
    chunk_ids: list[str]
    chunk_doc_ids: list[str]
    chunk_langs: list[str]
    chunk_texts: list[str]
    vectors: np.ndarray
    faiss_index: Any = None
    lexical: LexicalIndex | None = None
    multilingual: np.ndarray | None = None  # USE multilingual v3 unit vectors, one per chunk (retrieval.multilingual)
    sentences: SentenceVectors | None = None  # the chunks' sentence vectors (retrieval.sentences)

    @classmethod
    def from_rows(
        cls,
        manifest: dict[str, Any],
        documents: dict[str, StoredDocument],
        chunks: Sequence[Sequence[str]],
        vectors: np.ndarray,
    ) -> IndexData:
        """A version from its chunks as (chunk_id, doc_id, lang, text) rows, in the order of ``vectors``."""
        return cls(manifest, documents, [c[0] for c in chunks], [c[1] for c in chunks], [c[2] for c in chunks],
                   [c[3] for c in chunks], vectors)  # fmt: skip


def _faiss_index(vectors: np.ndarray, hnsw_threshold: int, hnsw_m: int, ef_search: int) -> tuple[Any, str]:
    import faiss

    dim = vectors.shape[1]
    index: Any
    if len(vectors) > hnsw_threshold:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = ef_search
        kind = "hnsw"
    else:
        index = faiss.IndexFlatIP(dim)
        kind = "flat"
    if len(vectors):
        index.add(vectors)
    return index, kind


def live_version(folder: Path) -> Path | None:
    """The live version folder of an index, or None when ``folder`` holds no index yet."""
    pointer = folder / CURRENT
    if not pointer.exists():
        return None
    if pointer.is_dir():
        raise IndexFault(_POINTER_FOLDER.format(folder=folder))
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:  # bytes that are not a version name, an unreadable file
        raise IndexFault(f"{folder}: CURRENT is unreadable ({exc}); remove it and re-ingest with --replace") from exc
    if not name:
        raise IndexFault(f"{folder}: CURRENT is empty (it names the live version); re-ingest with --replace")
    version = folder / name
    if not (version / "manifest.json").exists():
        raise IndexFault(f"{folder}: CURRENT points at {version.name}, which is incomplete or missing")
    return version


_POINTER_FOLDER = (
    "{folder}: CURRENT is a folder, not the file that names the live version; move it out of the index folder and"
    " re-ingest with --replace"
)


@contextlib.contextmanager
def write_lock(folder: Path, *, create: bool = True) -> Iterator[None]:
    """Hold the index's writer lock: one ingest at a time; readers never wait.

    Args:
        folder: the index folder.
        create: make the folder when missing (an ingest); without it, anything but an index is an error (a delete).
            A folder made here is removed again when the block fails before a version was written.

    Raises:
        IndexFault: ``folder`` is a file or cannot be created, is missing (``create`` False), or is locked.
    """
    if not create and not (folder / CURRENT).is_file():  # nothing to change: touch nothing (no folder, no .lock)
        if folder.exists() and not folder.is_dir():
            raise IndexFault(f"{folder}: a file, not an index folder")
        problem = "no such index folder" if not folder.exists() else f"not an index (no {CURRENT} file)"
        raise IndexFault(f"{folder}: {problem}; build one with `supportbot kb ingest`")
    if (folder / CURRENT).is_dir():  # checked before any work: the swap at the end of the write could not replace it
        raise IndexFault(_POINTER_FOLDER.format(folder=folder))
    if folder.is_dir() and not (folder / CURRENT).exists():  # a new index: in an empty folder, or one of our own
        foreign = sorted(
            p.name for p in folder.iterdir() if not p.name.startswith(".") and not _VERSION_NAME.fullmatch(p.name)
        )
        if foreign:  # someone's documents folder named by mistake: index files would be written among them
            raise IndexFault(
                f"{folder}: not an index and not empty ({len(foreign)} entries, such as {foreign[0]!r}); give --index a"
                " new or empty folder"
            )
    created = make_folders(folder, "--index")
    lock = folder / ".lock"
    try:
        with open(lock, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise IndexFault(f"{folder}: another process is writing this index") from exc
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except BaseException:
        if created and not (folder / CURRENT).exists():  # nothing was written: leave no folder behind
            lock.unlink(missing_ok=True)
            remove_folders(created)
        raise


def _write_sqlite(path: Path, data: IndexData) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT, lang TEXT, text TEXT, url TEXT, tags TEXT,"
            " translation_of TEXT, updated TEXT, source TEXT, content_hash TEXT, duplicate_of TEXT)"
        )
        db.execute(
            "CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, doc_id TEXT, lang TEXT, text TEXT)"
        )
        db.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    d.id,
                    d.title,
                    d.lang,
                    d.text,
                    d.url,
                    json.dumps(d.tags, ensure_ascii=False),
                    d.translation_of,
                    d.updated,
                    d.source,
                    d.content_hash,
                    d.duplicate_of,
                )
                for d in data.documents.values()
            ],
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?)",
            zip(
                range(len(data.chunk_ids)),
                data.chunk_ids,
                data.chunk_doc_ids,
                data.chunk_langs,
                data.chunk_texts,
                strict=True,
            ),
        )
        db.execute("CREATE INDEX chunks_doc ON chunks(doc_id)")
    db.close()


def write_version(folder: Path, data: IndexData, hnsw_threshold: int, hnsw_m: int, ef_search: int) -> Path:
    """Write ``data`` as a new version of the index at ``folder`` and make it live atomically."""
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = folder / f".staging-{name}"
    staging.mkdir()
    try:
        index, kind = _faiss_index(data.vectors, hnsw_threshold, hnsw_m, ef_search)
        np.save(staging / "vectors.npy", data.vectors)
        if data.multilingual is not None:
            np.save(staging / MULTILINGUAL_FILE, data.multilingual)
        if data.sentences is not None:
            data.sentences.save(staging)
        faiss.write_index(index, str(staging / "faiss.index"))
        # BM25 reads each chunk as the embedder does: its article's title (the topic), other articles' titles out.
        references = References(d.title for d in data.documents.values() if d.title)
        titled = [embed_text(data.documents[d].title, t, references)
                  for d, t in zip(data.chunk_doc_ids, data.chunk_texts, strict=True)]  # fmt: skip
        LexicalIndex.build(titled, data.chunk_langs).save(staging / "lexical")
        _write_sqlite(staging / "meta.sqlite", data)
        manifest = {**data.manifest, "format_version": FORMAT_VERSION, "faiss": kind, "chunks": len(data.chunk_ids)}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        _make_live(folder, staging, name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder / name


def _make_live(folder: Path, staging: Path, name: str) -> None:
    """Move the complete version folder ``staging`` in as ``name``, point ``CURRENT`` at it (atomically), then
    remove the older versions."""
    for path in staging.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    raise_if_interrupted()
    os.replace(staging, folder / name)
    pointer_tmp = folder / f".{CURRENT}.{name}"
    pointer_tmp.write_text(name)
    with open(pointer_tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(pointer_tmp, folder / CURRENT)
    for old in folder.iterdir():
        if old.name != name and (old.name.startswith("v-") or old.name.startswith(".staging-")):
            shutil.rmtree(old, ignore_errors=True)


def pack_version(folder: Path) -> tuple[str, bytes]:
    """(name, tar archive) of the live version of the index at ``folder``: what :func:`install_version` makes live
    in another folder (a replica on another machine).

    Raises:
        IndexFault: ``folder`` holds no index.
    """
    version = live_version(folder)
    if version is None:
        raise IndexFault(f"{folder}: not an index (no {CURRENT} file); build one with `supportbot kb ingest`")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(version.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(version)), recursive=False)
    return version.name, buffer.getvalue()


def install_version(folder: Path, name: str, archive: bytes) -> Path:
    """Make the version packed by :func:`pack_version` the live version of ``folder``, as atomically as an ingest:
    unpacked beside the live one, checked, then swapped in (the caller holds :func:`write_lock`).

    Raises:
        IndexFault: a version name or an archive that is not one :func:`pack_version` writes.
    """
    if not _VERSION_NAME.fullmatch(name):
        raise IndexFault(f"{name!r} is not an index version name")
    if (folder / CURRENT).is_file() and (folder / CURRENT).read_text().strip() == name:
        return folder / name
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
                tar.extractall(staging, filter="data")  # no links out, no absolute paths, no devices
            manifest = json.loads((staging / "manifest.json").read_text())
        except (tarfile.TarError, OSError, ValueError) as exc:
            raise IndexFault(f"index version {name}: not a packed index version ({exc})") from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexFault(f"index version {name}: format {manifest.get('format_version')}, not {FORMAT_VERSION}")
        shutil.rmtree(folder / name, ignore_errors=True)  # an older, no longer live copy of it
        _make_live(folder, staging, name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder / name


def read_version(folder: Path, with_search: bool = True) -> IndexData:
    """Load the live version of the index at ``folder`` (FAISS and BM25 too unless ``with_search`` is False)."""
    if not folder.exists():
        raise IndexFault(f"{folder}: no such index folder (build one with `supportbot kb ingest`)")
    version = live_version(folder)
    if version is None:
        raise IndexFault(f"{folder}: not an index (no {CURRENT} file); build one with `supportbot kb ingest`")
    try:
        manifest = json.loads((version / "manifest.json").read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexFault(f"{folder}: index format {manifest.get('format_version')} is not supported; rebuild it")
        db = sqlite3.connect(f"file:{version / 'meta.sqlite'}?mode=ro", uri=True)
        documents = {}
        for row in db.execute(
            "SELECT id, title, lang, text, url, tags, translation_of, updated, source, content_hash, duplicate_of"
            " FROM documents"
        ):
            documents[row[0]] = StoredDocument(
                id=row[0], title=row[1], lang=row[2], text=row[3], url=row[4], tags=json.loads(row[5]),
                translation_of=row[6], updated=row[7], source=row[8], content_hash=row[9], duplicate_of=row[10],
            )  # fmt: skip
        chunks = db.execute("SELECT chunk_id, doc_id, lang, text FROM chunks ORDER BY row").fetchall()
        db.close()
        vectors = np.load(version / "vectors.npy")
        data = IndexData.from_rows(manifest, documents, chunks, vectors)
        if (version / MULTILINGUAL_FILE).is_file():  # mapped, not read: search copies it into FAISS, ingest reads rows
            data.multilingual = np.load(version / MULTILINGUAL_FILE, mmap_mode="r")
        data.sentences = SentenceVectors.load(version, len(data.chunk_ids))
        if with_search:
            import faiss

            data.faiss_index = faiss.read_index(str(version / "faiss.index"))
            if manifest.get("faiss") == "hnsw":
                data.faiss_index.hnsw.efSearch = int(manifest.get("config", {}).get("hnsw_ef_search", 128))
            data.lexical = LexicalIndex.load(version / "lexical")
    except (OSError, sqlite3.Error, ValueError, KeyError, RuntimeError) as exc:
        if isinstance(exc, IndexFault):
            raise
        raise IndexFault(f"{folder}: index version {version.name} is unreadable: {exc}") from exc
    if len(data.chunk_ids) != len(vectors):
        raise IndexFault(f"{folder}: {len(data.chunk_ids)} chunks but {len(vectors)} vectors; rebuild the index")
    if data.multilingual is not None and len(data.multilingual) != len(vectors):
        raise IndexFault(f"{folder}: {len(data.multilingual)} multilingual vectors, {len(vectors)} chunks; rebuild it")
    return data
