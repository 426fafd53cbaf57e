"""The default chunk store: one SQLite file in the workspace (`WORKSPACE/talks.db`), opened through `apsw`.

Tables:
- `talks`: one header a talk (fingerprint of the transcript, chunking settings, chunk count, time of writing, and
  which kind of sentence embeddings its chunks keep: `own`, each sentence embedded on its own, or `pooled` from the
  chunk's pass, see `pipeline.sentence_pooling`; NULL when it keeps none);
- `chunks`: the chunks (id, talk, position, text, metadata as JSON; talk, event and speaker also as indexed columns
  for filters; optionally the chunk's sentence embeddings, float16, for highlighting without a model);
- `chunks_fts`: an FTS5 index of the chunk texts (words as Haystack's BM25 splits them, contentless, rows deleted
  with their chunk), and `chunks_terms`, its words with their document frequencies;
- `chunks_vec`: a `sqlite-vec` `vec0` table of the unit-length embeddings (exact nearest neighbours).

Guarantees come from SQLite itself: the file is in WAL mode, so readers never wait for a writer and see the last
committed state; a talk is replaced in one `BEGIN IMMEDIATE` transaction (old rows deleted, new ones inserted, header
upserted), so a crash or a kill leaves the talk old or new, never half; a second writer waits for the first (busy
timeout) instead of failing. Commits are durable (`synchronous=FULL`).

Keyword retrieval ranks like Haystack's in-memory store (the memory store this one replaced), so fusion sees the
same keyword candidates whichever of the two holds the chunks: BM25L (k1 = 1.5, b = 0.75, delta = 0.5, IDF
`log((N + 1) / (df + 0.5))`), every chunk holding any of the question's words a candidate, words as Haystack splits
them (lower-cased runs of letters, digits and `_`, no stemming: FTS5's `unicode61` tokenizer with diacritics kept
and `_` a word character; Haystack also splits CJK text into single characters, which `unicode61` does not). FTS5
keeps the corpus statistics BM25L needs in the database, inside each write's transaction: document frequencies
(`chunks_terms`, an `fts5vocab` table), chunk count and total length. FTS5's own `bm25()` is Okapi BM25 with fixed
parameters and another IDF, so chunks are scored by a BM25L auxiliary function (`bm25l`, registered on each
connection; FTS5 has no such ranking built in and no library adds one). Which chunks: every chunk of a filter that
selects at most `EXACT_CHUNKS` (a talk, as `talks ask --talk`), or of a store that small, so the ranking is exactly
Haystack's; in a larger store, a pool of `POOL_FACTOR` x top_k chunks, FTS5's best by `bm25()` among those holding
the question's rarest words (`_rarest`: common words add little to BM25L but would make FTS5 rank most of the
store). Schema 1 (Porter stems, `bm25()`) is rebuilt in place on the first writable open, or read as it is.

Embedding retrieval is exact: a brute-force `vec0` scan (L2 on unit vectors, the same order as cosine), or from the
second unfiltered question of a long-lived store on, numpy over all embeddings read into memory once (1.5 KB a
chunk; after a write, only the talks written are read again); with filters, distances over the filtered chunks
only. `Document.score` is the cosine similarity.

Threads: each thread uses its own connection (opened on first use), so one store object can serve many concurrent
questions in a long-lived process (`talks serve`); SQLite serialises the writers.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import apsw
import numpy as np
import sqlite_vec

from pipeline.stores.base import (
    EMBEDDING_DIMENSION,
    POOLED_SENTENCES,
    SENTENCE_KINDS,
    ChunkStore,
    Facets,
    StoreError,
    check_dimension,
)

if TYPE_CHECKING:  # haystack (and with it torch) is imported only when chunks are read or retrieved
    from haystack import Document

    from pipeline.stores.sqlite_retrievers import SqliteEmbeddingRetriever, SqliteKeywordRetriever

DATABASE_NAME = "talks.db"
SCHEMA_VERSION = 3  # 1: Porter-stemmed FTS5 index ranked by `bm25()` (rebuilt on the first writable open)
# 2: no record of the kind of sentence embeddings (talks keeping some get `pooled` on the first writable open: schema 2
# stored the sentences' own vectors before the one-pass ingest and pooled ones after it, and nothing tells them apart
# without the model; read as pooled, a recap embeds their sentences itself, as for either; see `_ensure_schema`)
BUSY_TIMEOUT_MS = 60_000  # a second writer waits this long for the first one's transaction
TOKENIZER = ("unicode61", "remove_diacritics", "0", "tokenchars", "_")  # Haystack's BM25 words, see above
LEGACY_TOKENIZER = ("porter", "unicode61", "remove_diacritics", "2")  # schema 1, still read when read-only
COMMON_SHARE = 0.5  # words in more chunks than this share get FTS5 IDF ~0 and are left out of the pool's match
BM25L = {"k1": 1.5, "b": 0.75, "delta": 0.5}  # Haystack's InMemoryDocumentStore defaults
EXACT_CHUNKS = 1000  # a filter selecting at most this many chunks has each of them scored
POOL_FACTOR = 5  # otherwise, this many times top_k chunks of FTS5's `bm25()` are rescored (at least POOL_MIN)
POOL_MIN = 200
MATRIX_AFTER = 2  # the embedding matrix is read into memory at the second unfiltered question (see `_matrix`)
MATRIX_SLACK = 0.25  # at most this share of the matrix's rows dropped or added since its whole read (see `_updated`)
MATCH_FACTOR = 20  # the pool is drawn from chunks holding the rarest words, at most this many times its size
SENTENCE_DTYPE = np.float16

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS talks (talk_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, settings TEXT NOT NULL,"
    " chunks INTEGER NOT NULL, updated_at REAL NOT NULL, sentence_kind TEXT)",
    "CREATE TABLE IF NOT EXISTS chunks (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, talk_id TEXT NOT NULL,"
    " position INTEGER NOT NULL, content TEXT NOT NULL, meta TEXT NOT NULL, event TEXT, speaker TEXT,"
    " sentence_vectors BLOB)",
    "CREATE INDEX IF NOT EXISTS chunks_talk ON chunks (talk_id, position)",
    "CREATE INDEX IF NOT EXISTS chunks_event ON chunks (event)",
    "CREATE INDEX IF NOT EXISTS chunks_speaker ON chunks (speaker)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vec USING vec0(embedding float[{EMBEDDING_DIMENSION}])",
]
_KIND_COLUMN = "ALTER TABLE talks ADD COLUMN sentence_kind TEXT"
# schema 1-2 talks with sentence embeddings: of unknown kind, read as pooled (see SCHEMA_VERSION); also how a
# read-only one is read
_OLD_KIND = (
    "CASE WHEN EXISTS (SELECT 1 FROM chunks c WHERE c.talk_id = talks.talk_id AND c.sentence_vectors IS NOT NULL)"
    f" THEN '{POOLED_SENTENCES}' END"
)
_TEXT_INDEX = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(content, content='', contentless_delete=1,"
    f' tokenize="{" ".join(TOKENIZER)}")',
    "CREATE VIRTUAL TABLE chunks_terms USING fts5vocab(chunks_fts, 'row')",
]
_COLUMNS = {"meta.talk_id": "c.talk_id", "meta.event": "c.event", "meta.speaker": "c.speaker", "id": "c.id"}
_COMPARISONS = {"==": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def database_path(workspace_root: Path, path: str | None = None) -> Path:
    """`path` when given (a file, or a folder holding `talks.db`), else `WORKSPACE/talks.db`."""
    if not path:
        return workspace_root / DATABASE_NAME
    chosen = Path(path).expanduser()
    return chosen / DATABASE_NAME if chosen.is_dir() else chosen


def holds_talks(path: Path) -> bool:
    """Whether the file exists and is a talks database with at least one talk (read-only; False on any error)."""
    if not path.is_file():
        return False
    try:
        connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            return bool(connection.execute("SELECT EXISTS (SELECT 1 FROM talks)").fetchone()[0])
        finally:
            connection.close()
    except apsw.Error:
        return False


def _read_only(path: Path) -> bool:
    """An existing database we may not write (the file or its folder, which holds the WAL files)."""
    return path.is_file() and not (
        os.access(path, os.W_OK, effective_ids=True) and os.access(path.parent, os.W_OK, effective_ids=True)
    )


def _open_read_only(path: Path) -> apsw.Connection:
    """Reads a database we may not write: `mode=ro`, which still reads a WAL left by a killed writer when its files
    are there; where SQLite cannot set up the WAL index without write access, `immutable=1` reads the main file as
    it is (nobody can write it either, so it cannot change under us)."""
    flags = apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
    uri = f"file:{quote(str(path.resolve()))}"
    try:
        connection = apsw.Connection(f"{uri}?mode=ro", flags=flags)
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        return connection
    except apsw.Error:
        return apsw.Connection(f"{uri}?immutable=1", flags=flags)


def _unit(vector: list[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def _json_path(field: str) -> str:
    key = field.removeprefix("meta.")
    return '$."' + key.replace('"', '""') + '"'


def filters_to_sql(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """A Haystack metadata filter as an SQL condition over `chunks c` (talk, event, speaker and id use their
    columns, other fields `json_extract` on the metadata); `("1", [])` when there is none."""
    if not filters:
        return "1", []
    if "conditions" in filters:
        operator = filters.get("operator", "AND").upper()
        parts = [filters_to_sql(condition) for condition in filters["conditions"]]
        if operator not in ("AND", "OR", "NOT"):
            raise StoreError(f"sqlite store: unknown filter operator '{operator}'")
        joined = f" {'OR' if operator == 'OR' else 'AND'} ".join(f"({sql})" for sql, _ in parts) or "1"
        params = [value for _, values in parts for value in values]
        return (f"NOT ({joined})" if operator == "NOT" else joined), params
    field, operator, value = filters.get("field", ""), filters.get("operator", ""), filters.get("value")
    column = _COLUMNS.get(field)
    params: list[Any] = []
    if column is None:
        if not field.startswith("meta."):
            raise StoreError(f"sqlite store: cannot filter on '{field}' (only meta.* fields and id)")
        column, params = "json_extract(c.meta, ?)", [_json_path(field)]
    if operator in ("in", "not in"):
        values = list(value or [])
        if not values:
            return ("0" if operator == "in" else "1"), []
        marks = ", ".join("?" for _ in values)
        return f"{column} {operator.upper()} ({marks})", [*params, *values]
    if operator not in _COMPARISONS:
        raise StoreError(f"sqlite store: unknown filter operator '{operator}'")
    if value is None and operator in ("==", "!="):
        return f"{column} IS {'NOT ' if operator == '!=' else ''}NULL", params
    return f"{column} {_COMPARISONS[operator]} ?", [*params, value]


class SqliteChunkStore(ChunkStore):
    """Chunks in one SQLite file: see the module docstring. Opening creates the file and its tables when missing
    and checks an existing one is a talks database; every thread gets its own connection."""

    kind = "sqlite"
    keeps_sentence_vectors = True  # `replace_talk(..., sentence_vectors=...)`, read back by `sentence_vectors(ids)`

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[apsw.Connection] = []
        self._guard = threading.Lock()
        self._vectors: _Matrix | None = None  # every embedding in memory, see `_matrix`
        self._questions: tuple[tuple | None, int] = (None, 0)  # (talks' signature, embedding questions since)
        self._loading = False
        self._vectors_guard = threading.Lock()
        self._connection()  # fails now, in one line, when the file cannot be used

    def describe(self) -> str:
        return f"sqlite store {self.path}"

    # -- connections --

    def _connection(self) -> apsw.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        try:
            if _read_only(self.path):
                connection = _open_read_only(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = apsw.Connection(str(self.path))
            connection.set_busy_timeout(BUSY_TIMEOUT_MS)
            connection.enable_load_extension(True)
            connection.load_extension(sqlite_vec.loadable_path())
            connection.enable_load_extension(False)
            if connection.readonly("main"):
                self._check_schema(connection)
            else:
                connection.execute("PRAGMA synchronous = FULL")
                self._ensure_schema(connection)
            connection.register_fts5_function("bm25l", _bm25l)  # after the checks: a damaged file fails above
        except apsw.NotADBError:
            raise StoreError(f"{self.describe()}: not an SQLite database (damaged, or another file)") from None
        except (apsw.Error, OSError) as error:
            raise StoreError(f"{self.describe()}: cannot open: {_reason(error)}") from None
        self._local.connection = connection
        with self._guard:
            self._connections.append(connection)
        return connection

    def _check_schema(self, connection: apsw.Connection) -> None:
        """A read-only database must already hold a talks schema: nothing can be created in it. One of schema 1
        (before BM25L) is read as it is: keyword retrieval ranks by its Porter-stemmed index's `bm25()`."""
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version not in (1, 2, SCHEMA_VERSION):
            raise StoreError(
                f"{self.describe()}: read-only and of schema {version}, not {SCHEMA_VERSION}: "
                "open it once with write access to upgrade it"
            )
        self._local.legacy = version == 1
        self._local.kind_column = version >= 3

    def _ensure_schema(self, connection: apsw.Connection) -> None:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.describe()}: made by a newer version of talks (schema {version}); upgrade talks")
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode = WAL")  # persistent: stays with the file
        with self._transaction(connection):
            version = connection.execute("PRAGMA user_version").fetchone()[0]  # another process may have done it
            if version == 0:
                known = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema")}
                if known and "chunks" not in known:
                    raise StoreError(f"{self.describe()}: holds other tables, not talks; choose another path")
                for statement in _SCHEMA + _TEXT_INDEX:
                    connection.execute(statement)
            if version == 1:  # the text index is rebuilt with Haystack's words from the stored chunk texts
                connection.execute("DROP TABLE chunks_terms")
                connection.execute("DROP TABLE chunks_fts")
                for statement in _TEXT_INDEX:
                    connection.execute(statement)
                connection.execute("INSERT INTO chunks_fts (rowid, content) SELECT rowid, content FROM chunks")
            columns = {row[1] for row in connection.execute("PRAGMA table_info(talks)")}
            if "sentence_kind" not in columns:  # schema 1-2: the kind recorded from now on, see SCHEMA_VERSION
                connection.execute(_KIND_COLUMN)
                connection.execute(f"UPDATE talks SET sentence_kind = {_OLD_KIND}")
            if version < SCHEMA_VERSION:
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self, connection: apsw.Connection | None = None) -> Iterator[apsw.Connection]:
        """`BEGIN IMMEDIATE` (the write lock at once, waiting out another writer), COMMIT, or ROLLBACK on any error."""
        connection = connection or self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except apsw.BusyError:
            raise StoreError(f"{self.describe()}: {doing}: the database stayed locked by another writer") from None
        except apsw.Error as error:
            raise StoreError(f"{self.describe()}: {doing}: {_reason(error)}") from None

    def close(self) -> None:
        with self._guard:
            connections, self._connections = self._connections, []
            self._vectors = None
        for connection in connections:
            connection.close()
        self._local = threading.local()

    # -- writing --

    def replace_talk(
        self,
        talk_id: str,
        documents: list[Document],
        fingerprint: str,
        settings: dict,
        sentence_vectors=None,
        sentence_kind: str | None = None,
    ) -> None:
        """One transaction: the talk's old chunks deleted, the new ones (and their index entries) inserted, the
        header upserted. `sentence_vectors`: optional, one (sentences × 384) array a chunk, kept for highlighting,
        with `sentence_kind` saying which kind they are (`SENTENCE_KINDS`: `own` or `pooled`), recorded in the
        header: recaps use only the sentences' own (`StoredSentenceEmbedder`)."""
        check_dimension(documents, self.describe())
        for document in documents:
            owner = document.meta.get("talk_id")
            if owner != talk_id:
                raise StoreError(f"{self.describe()}: chunk {document.id} belongs to talk {owner!r}, not {talk_id!r}")
        if sentence_vectors is not None and len(sentence_vectors) != len(documents):
            raise StoreError(f"{self.describe()}: {len(sentence_vectors)} sentence arrays for {len(documents)} chunks")
        if sentence_vectors is not None and sentence_kind not in SENTENCE_KINDS:
            raise StoreError(
                f"{self.describe()}: sentence embeddings of kind {sentence_kind!r}: give one of "
                f"{', '.join(SENTENCE_KINDS)}"
            )
        kind = None if sentence_vectors is None or not any(v is not None for v in sentence_vectors) else sentence_kind
        with self._errors(f"writing talk {talk_id}"), self._transaction() as db:
            self._delete_talk(db, talk_id)
            for position, document in enumerate(documents):
                meta = document.meta
                vectors = None if sentence_vectors is None else sentence_vectors[position]
                blob = None if vectors is None else np.asarray(vectors, dtype=SENTENCE_DTYPE).tobytes()
                try:
                    rowid = db.execute(
                        "INSERT INTO chunks (id, talk_id, position, content, meta, event, speaker, sentence_vectors)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING rowid",
                        (
                            document.id,
                            talk_id,
                            position,
                            document.content or "",
                            json.dumps(meta),
                            meta.get("event"),
                            meta.get("speaker"),
                            blob,
                        ),
                    ).fetchone()[0]
                except apsw.ConstraintError:
                    raise StoreError(
                        f"{self.describe()}: chunk id {document.id} is already used by another talk"
                    ) from None
                db.execute("INSERT INTO chunks_fts (rowid, content) VALUES (?, ?)", (rowid, document.content or ""))
                db.execute(
                    "INSERT INTO chunks_vec (rowid, embedding) VALUES (?, ?)",
                    (rowid, _unit(document.embedding or []).tobytes()),
                )
            db.execute(
                "INSERT INTO talks (talk_id, fingerprint, settings, chunks, updated_at, sentence_kind)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (talk_id) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " settings = excluded.settings, chunks = excluded.chunks, updated_at = excluded.updated_at,"
                " sentence_kind = excluded.sentence_kind",
                (talk_id, fingerprint, json.dumps(settings), len(documents), time.time(), kind),
            )

    def _delete_talk(self, db: apsw.Connection, talk_id: str) -> None:
        rowids = [row[0] for row in db.execute("SELECT rowid FROM chunks WHERE talk_id = ?", (talk_id,))]
        for rowid in rowids:
            db.execute("DELETE FROM chunks_fts WHERE rowid = ?", (rowid,))
            db.execute("DELETE FROM chunks_vec WHERE rowid = ?", (rowid,))
        db.execute("DELETE FROM chunks WHERE talk_id = ?", (talk_id,))
        db.execute("DELETE FROM talks WHERE talk_id = ?", (talk_id,))

    def remove_talk(self, talk_id: str) -> None:
        with self._errors(f"removing talk {talk_id}"), self._transaction() as db:
            self._delete_talk(db, talk_id)

    # -- reading --

    def _rows(self, sql: str, params: tuple | list = (), doing: str = "reading") -> list[tuple]:
        with self._errors(doing):
            return self._connection().execute(sql, params).fetchall()

    def talk_ids(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT talk_id FROM talks ORDER BY talk_id", doing="listing talks")]

    def header(self, talk_id: str) -> dict[str, Any] | None:
        """The talk's header; `sentence_kind`: the kind of sentence embeddings it keeps (None: none)."""
        self._connection()  # a read-only database of an older schema has no kind column: see `_OLD_KIND`
        kind = "sentence_kind" if getattr(self._local, "kind_column", True) else _OLD_KIND
        sql = f"SELECT fingerprint, settings, chunks, {kind} FROM talks WHERE talk_id = ?"
        rows = self._rows(sql, (talk_id,), f"reading {talk_id}")
        if not rows:
            return None
        fingerprint, settings, chunks, kind = rows[0]
        return {
            "talk_id": talk_id,
            "fingerprint": fingerprint,
            "settings": json.loads(settings),
            "chunks": chunks,
            "sentence_kind": kind,
        }

    def documents(self, talk_id: str) -> list[Document]:
        from haystack import Document

        rows = self._rows(
            "SELECT c.id, c.content, c.meta, v.embedding FROM chunks c JOIN chunks_vec v ON v.rowid = c.rowid"
            " WHERE c.talk_id = ? ORDER BY c.position",
            (talk_id,),
            f"reading the chunks of {talk_id}",
        )
        return [
            Document(
                id=id_, content=content, meta=json.loads(meta), embedding=np.frombuffer(vector, np.float32).tolist()
            )
            for id_, content, meta, vector in rows
        ]

    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """The stored sentence embeddings (float32, one row a sentence) of those chunks that have them."""
        if not chunk_ids:
            return {}
        marks = ", ".join("?" for _ in chunk_ids)
        rows = self._rows(
            f"SELECT id, sentence_vectors FROM chunks WHERE id IN ({marks}) AND sentence_vectors IS NOT NULL",
            chunk_ids,
            "reading sentence embeddings",
        )
        return {
            id_: np.frombuffer(blob, SENTENCE_DTYPE).astype(np.float32).reshape(-1, EMBEDDING_DIMENSION)
            for id_, blob in rows
        }

    def talk_sentence_vectors(self, talk_id: str) -> list[tuple[str, np.ndarray]]:
        """(chunk text, its sentence embeddings as float32 rows) of each of the talk's chunks that has them, in
        order: what a recap needs of them (no chunk embeddings or metadata read)."""
        rows = self._rows(
            "SELECT content, sentence_vectors FROM chunks WHERE talk_id = ? AND sentence_vectors IS NOT NULL"
            " ORDER BY position",
            (talk_id,),
            f"reading the sentence embeddings of {talk_id}",
        )
        return [
            (content, np.frombuffer(blob, SENTENCE_DTYPE).astype(np.float32).reshape(-1, EMBEDDING_DIMENSION))
            for content, blob in rows
        ]

    def count_chunks(self) -> int:
        return int(self._rows("SELECT count(*) FROM chunks", doing="counting chunks")[0][0])

    def facets(self) -> Facets:
        def distinct(column: str) -> list[str]:
            sql = f"SELECT DISTINCT {column} FROM chunks WHERE {column} IS NOT NULL AND {column} <> '' ORDER BY 1"
            return [row[0] for row in self._rows(sql, doing="reading talks, events and speakers")]

        return Facets(talk_ids=self.talk_ids(), events=distinct("event"), speakers=distinct("speaker"))

    def retrievers(self, top_k: int) -> tuple[SqliteKeywordRetriever, SqliteEmbeddingRetriever]:
        from pipeline.stores.sqlite_retrievers import SqliteEmbeddingRetriever, SqliteKeywordRetriever

        return SqliteKeywordRetriever(store=self, top_k=top_k), SqliteEmbeddingRetriever(store=self, top_k=top_k)

    # -- retrieval --

    def _query_terms(self, query: str, legacy: bool = False) -> list[tuple[str, str]]:
        """(term, word as written) for each distinct term of the query, by the index's own tokenizer."""
        tokenizers = getattr(self._local, "tokenizers", None)
        if tokenizers is None:
            tokenizers = self._local.tokenizers = {}
        tokenizer = tokenizers.get(legacy)
        if tokenizer is None:
            name, *arguments = LEGACY_TOKENIZER if legacy else TOKENIZER
            tokenizer = tokenizers[legacy] = self._connection().fts5_tokenizer(name, arguments)
        encoded = query.encode("utf-8")
        seen: dict[str, str] = {}
        for start, end, term, *_ in tokenizer(encoded, apsw.FTS5_TOKENIZE_QUERY, None):
            seen.setdefault(term, encoded[start:end].decode("utf-8", "replace"))
        return list(seen.items())

    def keyword_search(self, query: str, filters: dict[str, Any] | None, top_k: int) -> list[Document]:
        """Chunks holding any of the query's words, best BM25L first (`Document.score` = BM25L, as Haystack's
        in-memory store gives it; a read-only database of schema 1: FTS5's `bm25()`, positive)."""
        from haystack import Document

        with self._errors("keyword retrieval"):
            db = self._connection()
            if getattr(self._local, "legacy", False):
                rows = self._okapi_search(db, query, filters, top_k)
            else:
                rows = self._bm25l_search(db, query, filters, top_k)
        return [Document(id=i, content=c, meta=json.loads(m), score=score) for i, c, m, score in rows]

    def _frequencies(self, db: apsw.Connection, terms: list[str]) -> tuple[int, dict[str, int]]:
        """The number of chunks (read from the talk headers, no chunk scan) and each term's chunk count."""
        total = db.execute("SELECT coalesce(sum(chunks), 0) FROM talks").fetchone()[0]
        marks = ", ".join("?" for _ in terms)
        frequencies = dict(db.execute(f"SELECT term, doc FROM chunks_terms WHERE term IN ({marks})", terms))
        return total, frequencies

    def _bm25l_search(
        self, db: apsw.Connection, query: str, filters: dict[str, Any] | None, top_k: int
    ) -> list[tuple[str, str, str, float]]:
        """(id, content, meta, BM25L) of the best `top_k` chunks: see the module docstring."""
        terms = [term for term, _ in self._query_terms(query)]
        if not terms:
            return []
        total, frequencies = self._frequencies(db, terms)
        present = [term for term in terms if frequencies.get(term, 0) > 0]
        if not present:
            return []
        idfs = [math.log((total + 1.0) / (frequencies[term] + 0.5)) for term in present]
        exact, candidates = self._exact_candidates(db, total, filters)
        pool = max(POOL_FACTOR * int(top_k), POOL_MIN)
        if exact:  # every chunk of the filter (candidates None: of the store) holding any of the words is scored
            match = _any_of(present)
        else:  # a pool of FTS5's best by `bm25()` on the rarer words (`chosen`)
            chosen = _rarest(present, frequencies, total, MATCH_FACTOR * pool)
            candidates = self._pool(db, chosen, filters, pool)
            # matches the chunks holding a chosen word, with a phrase for every word of the question (the second
            # group), so that BM25L counts them all
            match = f"({_any_of(chosen)}) AND ({_any_of(present)})"
            idfs = [0.0] * len(chosen) + idfs  # the first group's phrases repeat words of the second
        sql = "SELECT rowid, bm25l(chunks_fts, " + ", ".join("?" for _ in idfs) + ") FROM chunks_fts"
        sql += " WHERE chunks_fts MATCH ?"
        params: list[Any] = [*idfs, match]
        if candidates is not None:
            if not candidates:
                return []
            # the range lets FTS5 skip to the candidates (a talk's chunks are consecutive rows); `+rowid` keeps
            # the list a plain check instead of one index lookup a candidate
            sql += " AND rowid BETWEEN ? AND ? AND +rowid IN (SELECT value FROM json_each(?))"
            params += [min(candidates), max(candidates), json.dumps(candidates)]
        scored = db.execute(sql, params).fetchall()
        best = sorted((row for row in scored if row[1] > 0), key=lambda row: (-row[1], row[0]))[: int(top_k)]
        if not best:
            return []
        marks = ", ".join("?" for _ in best)
        found = db.execute(
            f"SELECT rowid, id, content, meta FROM chunks WHERE rowid IN ({marks})", [r for r, _ in best]
        )
        by_rowid = {rowid: rest for rowid, *rest in found}
        return [(*by_rowid[rowid], score) for rowid, score in best if rowid in by_rowid]

    def _exact_candidates(
        self, db: apsw.Connection, total: int, filters: dict[str, Any] | None
    ) -> tuple[bool, list[int] | None]:
        """Whether the filter (or, without one, the store) holds at most `EXACT_CHUNKS` chunks, so that all of them
        are scored and the ranking is exactly Haystack's; and then the filter's rowids (None: the whole store)."""
        if not filters:
            return total <= EXACT_CHUNKS, None
        where, params = filters_to_sql(filters)
        rows = db.execute(f"SELECT c.rowid FROM chunks c WHERE ({where}) LIMIT ?", [*params, EXACT_CHUNKS + 1])
        rowids = [rowid for (rowid,) in rows]
        return (True, rowids) if len(rowids) <= EXACT_CHUNKS else (False, None)

    def _pool(self, db: apsw.Connection, chosen: list[str], filters: dict[str, Any] | None, size: int) -> list[int]:
        """The best `size` chunks (of the filter) by FTS5's `bm25()` over the chosen words."""
        if not filters:  # FTS5 sorts by its rank itself
            sql, params = "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?", []
        else:
            where, params = filters_to_sql(filters)
            sql = (
                "SELECT c.rowid FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid"
                f" WHERE chunks_fts MATCH ? AND ({where}) ORDER BY bm25(chunks_fts) LIMIT ?"
            )
        return [rowid for (rowid,) in db.execute(sql, [_any_of(chosen), *params, size])]

    def _okapi_search(
        self, db: apsw.Connection, query: str, filters: dict[str, Any] | None, top_k: int
    ) -> list[tuple[str, str, str, float]]:
        """Schema 1, read-only: the Porter-stemmed index ranked by FTS5's `bm25()` (Okapi BM25), any-word match."""
        terms = self._query_terms(query, legacy=True)
        if not terms:
            return []
        total, frequencies = self._frequencies(db, [term for term, _ in terms])
        present = [(term, word) for term, word in terms if frequencies.get(term, 0) > 0]
        chosen = [word for term, word in present if frequencies[term] <= COMMON_SHARE * total]
        chosen = chosen or [word for _, word in present]
        if not chosen:
            return []
        where, params = filters_to_sql(filters)
        rows = db.execute(
            "SELECT c.id, c.content, c.meta, bm25(chunks_fts) AS rank FROM chunks_fts"
            f" JOIN chunks c ON c.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? AND ({where})"
            " ORDER BY rank, c.rowid LIMIT ?",
            [_any_of(chosen), *params, int(top_k)],
        ).fetchall()
        return [(id_, content, meta, -float(rank)) for id_, content, meta, rank in rows]

    def embedding_search(
        self, query_embedding: list[float], filters: dict[str, Any] | None, top_k: int
    ) -> list[Document]:
        """The nearest chunks by cosine similarity (`Document.score`), exactly."""
        from haystack import Document

        if len(query_embedding) != EMBEDDING_DIMENSION:
            raise StoreError(
                f"{self.describe()}: dimension mismatch: the query has {len(query_embedding)} dimensions, "
                f"the store holds {EMBEDDING_DIMENSION}"
            )
        vector = _unit(query_embedding)
        with self._errors("embedding retrieval"):
            db = self._connection()
            if filters:
                where, params = filters_to_sql(filters)
                rows = db.execute(
                    "SELECT c.id, c.content, c.meta, vec_distance_l2(v.embedding, ?) AS distance FROM chunks c"
                    f" JOIN chunks_vec v ON v.rowid = c.rowid WHERE ({where}) ORDER BY distance, c.rowid LIMIT ?",
                    [vector.tobytes(), *params, int(top_k)],
                ).fetchall()
                rows = [(id_, content, meta, 1.0 - float(distance) ** 2 / 2) for id_, content, meta, distance in rows]
            elif (loaded := self._matrix(db)) is None:  # the exact `vec0` scan
                nearest = db.execute(
                    "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
                    (vector.tobytes(), int(top_k)),
                ).fetchall()
                rows = self._chunk_rows([(rowid, 1.0 - float(distance) ** 2 / 2) for rowid, distance in nearest])
            else:  # the same, by numpy over the matrix in memory
                rows = self._chunk_rows(loaded.nearest(vector, int(top_k)))
        return [Document(id=i, content=c, meta=json.loads(m), score=score) for i, c, m, score in rows]

    def _chunk_rows(self, nearest: list[tuple[int, float]]) -> list[tuple[str, str, str, float]]:
        """(id, content, meta, similarity) of the (rowid, similarity) pairs, in their order."""
        marks = ", ".join("?" for _ in nearest)
        found = self._connection().execute(
            f"SELECT rowid, id, content, meta FROM chunks WHERE rowid IN ({marks})", [r for r, _ in nearest]
        )
        by_rowid = {rowid: rest for rowid, *rest in found}
        return [(*by_rowid[r], similarity) for r, similarity in nearest if r in by_rowid]

    def _matrix(self, db: apsw.Connection) -> _Matrix | None:
        """The rowids and unit embeddings of every chunk in memory, while the talks stay the same (their count,
        chunk total and latest write time: one read of the small `talks` table a question); None before the
        `MATRIX_AFTER`-th question of this store since it opened, so that a one-question process (`talks ask`)
        never pays for reading them. numpy's product over the matrix takes a fraction of `vec0`'s scan, which copies
        every vector out of its blobs each question, but reading the matrix costs many scans (`bench/stores.py`
        prints both); shared by the threads. After a write (by this process or another), the matrix is brought up
        to date from the talk headers: the rows of removed or rewritten talks dropped, those of new or rewritten
        talks read (`_updated`), instead of reading every embedding again."""
        signature_sql = "SELECT count(*), coalesce(sum(chunks), 0), coalesce(max(updated_at), 0) FROM talks"
        signature = db.execute(signature_sql).fetchone()
        cached = self._vectors
        if cached is not None and cached.signature == signature:
            return cached
        with self._vectors_guard:  # one thread reads the matrix; the others scan meanwhile
            seen = self._questions[1] + 1 if self._questions[0] == signature else 1
            self._questions = (signature, seen)
            if (cached is None and seen < MATRIX_AFTER) or self._loading:
                return None
            self._loading = True
        try:
            db.execute("BEGIN")  # the headers and the vectors from one snapshot
            try:
                loaded = (self._updated(db, cached) if cached is not None else None) or self._read_matrix(db)
            finally:
                db.execute("COMMIT")
            self._vectors = loaded
        finally:
            self._loading = False
        return loaded

    def _read_matrix(self, db: apsw.Connection) -> _Matrix:
        """Every embedding, read whole (inside the caller's read transaction)."""
        signature, talks = _talk_headers(db)
        rowids, matrix = _stored_vectors(db, signature[1])
        owners = db.execute("SELECT talk_id, rowid FROM chunks ORDER BY talk_id, rowid").fetchall()
        return _Matrix(signature, talks, _rows_by_talk(owners), rowids, (matrix,))

    def _updated(self, db: apsw.Connection, cached: _Matrix) -> _Matrix | None:
        """The cached matrix brought up to the snapshot's talks (inside the caller's read transaction): the rows of
        talks whose header is gone or changed (chunk count or time of writing) marked dropped, the rows of new or
        changed talks read and added as a block of their own, so the big block is neither copied nor changed (a
        thread may be reading it). None, for a whole read instead, when more than `MATRIX_SLACK` of the rows would
        be dropped or in added blocks, or the result does not hold exactly the store's chunks."""
        signature, talks = _talk_headers(db)
        changed = [talk_id for talk_id, header in talks.items() if cached.talks.get(talk_id) != header]
        gone = [talk_id for talk_id in cached.talks if talk_id not in talks]
        dropped = [cached.rows[talk_id] for talk_id in (*changed, *gone) if talk_id in cached.rows]
        dead = cached.dead
        if dropped:
            dead = np.union1d(dead, np.flatnonzero(np.isin(cached.rowids, np.concatenate(dropped))))
        rows = {talk_id: rowids for talk_id, rowids in cached.rows.items() if talk_id in talks}
        rowids, blocks = cached.rowids, cached.blocks
        if changed:
            marks = ", ".join("?" for _ in changed)
            found = db.execute(
                "SELECT c.talk_id, c.rowid, v.embedding FROM chunks c JOIN chunks_vec v ON v.rowid = c.rowid"
                f" WHERE c.talk_id IN ({marks}) ORDER BY c.rowid",
                changed,
            ).fetchall()
            rows.update({talk_id: np.zeros(0, np.int64) for talk_id in changed})
            rows.update(_rows_by_talk([(talk_id, rowid) for talk_id, rowid, _ in found]))
            added = np.frombuffer(b"".join(blob for _, _, blob in found), np.float32).reshape(-1, EMBEDDING_DIMENSION)
            rowids = np.concatenate([rowids, np.fromiter((rowid for _, rowid, _ in found), np.int64, len(found))])
            blocks = (*blocks, added)
        if len(rowids) - len(dead) != signature[1] or any(
            len(rows[talk_id]) != talks[talk_id][0] for talk_id in changed
        ):
            return None  # e.g. a vector missing for a chunk: the whole read decides, as at the first load
        if len(dead) + len(rowids) - len(blocks[0]) > MATRIX_SLACK * len(rowids):
            return None
        return _Matrix(signature, talks, rows, rowids, blocks, dead)


@dataclass(frozen=True)
class _Matrix:
    """Every embedding in memory and what it was read from: the talks' signature (count, chunk total, latest
    write), each talk's header (chunk count, time of writing) and rowids. The vectors are `blocks` of rows, one
    after the other (`rowids` names each row); rows of `dead` positions belong to talks rewritten or removed since.
    After a whole read the rows are in `vec0`'s order, after an update the new ones last: the same chunks and
    similarities either way (only chunks of exactly equal similarity at the `top_k` cut may fall either way, as they
    may between the scan and the matrix)."""

    signature: tuple
    talks: dict[str, tuple[int, float]]
    rows: dict[str, np.ndarray]
    rowids: np.ndarray
    blocks: tuple[np.ndarray, ...]
    dead: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def nearest(self, vector: np.ndarray, top_k: int) -> list[tuple[int, float]]:
        """(rowid, cosine similarity) of the `top_k` live rows most similar to the unit `vector`, most similar
        first, then by rowid."""
        blocks = self.blocks
        similarities = blocks[0] @ vector if len(blocks) == 1 else np.concatenate([b @ vector for b in blocks])
        if len(self.dead):
            similarities[self.dead] = -np.inf
        count = min(top_k, len(self.rowids) - len(self.dead))
        best = np.argpartition(-similarities, count - 1)[:count] if count > 0 else np.array([], dtype=np.int64)
        best = best[np.lexsort((self.rowids[best], -similarities[best]))]  # most similar first, then by row
        return [(int(self.rowids[i]), float(similarities[i])) for i in best]

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """The live rows' rowids and vectors, as one matrix (a copy)."""
        keep = np.ones(len(self.rowids), bool)
        keep[self.dead] = False
        return self.rowids[keep], np.concatenate(self.blocks)[keep]


def _talk_headers(db: apsw.Connection) -> tuple[tuple, dict[str, tuple[int, float]]]:
    """The talks' signature (as `_matrix` compares it) and each talk's (chunk count, time of writing)."""
    talks = {
        talk_id: (chunks, updated_at)
        for talk_id, chunks, updated_at in db.execute("SELECT talk_id, chunks, updated_at FROM talks")
    }
    latest = max((updated_at for _, updated_at in talks.values()), default=0)
    return (len(talks), sum(chunks for chunks, _ in talks.values()), latest), talks


def _rows_by_talk(owners: list[tuple[str, int]]) -> dict[str, np.ndarray]:
    """(talk, rowid) pairs, grouped: each talk's rowids."""
    grouped: dict[str, list[int]] = {}
    for talk_id, rowid in owners:
        grouped.setdefault(talk_id, []).append(rowid)
    return {talk_id: np.asarray(rowids, np.int64) for talk_id, rowids in grouped.items()}


def _stored_vectors(db: apsw.Connection, chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """Every embedding with its rowid. Read from `vec0`'s own tables, a blob of 1024 vectors at a time with a bitmap
    of the live ones (the layout of sqlite-vec 0.1.9, which pyproject pins): about 2.5x faster than `vec0` returning
    them row by row, which stays the fallback when that layout does not give one vector a chunk."""
    try:
        blocks = db.execute(
            "SELECT c.validity, c.rowids, v.vectors FROM chunks_vec_chunks c"
            " JOIN chunks_vec_vector_chunks00 v ON v.rowid = c.chunk_id ORDER BY c.chunk_id"
        ).fetchall()
        ids, vectors = [], []
        for validity, rowids, block in blocks:
            live = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little").astype(bool)
            block_ids = np.frombuffer(rowids, np.int64)
            block_vectors = np.frombuffer(block, np.float32).reshape(-1, EMBEDDING_DIMENSION)
            if not len(live) == len(block_ids) == len(block_vectors):
                raise ValueError("unexpected vec0 layout")
            ids.append(block_ids[live])
            vectors.append(block_vectors[live])
        rowids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, EMBEDDING_DIMENSION), np.float32)
        if len(rowids) == chunks and len(np.unique(rowids)) == chunks:
            return rowids, matrix
    except (apsw.SQLError, ValueError):
        pass
    rows = db.execute("SELECT rowid, embedding FROM chunks_vec ORDER BY rowid").fetchall()
    rowids = np.fromiter((rowid for rowid, _ in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32)
    return rowids, matrix.reshape(len(rows), EMBEDDING_DIMENSION)


def _rarest(terms: list[str], frequencies: dict[str, int], total: int, budget: int) -> list[str]:
    """The question's rarest words, while the chunks holding them add up to at most `budget` (at least the rarest
    word): the pool's match. Common words add little to BM25L (IDF ~0.4 for a word in half of the chunks, 5-10 for
    a rare one) but make FTS5 rank most of the store; a chunk among the best `top_k` almost always holds one of the
    rare words."""
    chosen, covered = [], 0
    for term in sorted(terms, key=lambda term: frequencies[term]):
        count = frequencies[term]
        if chosen and (covered + count > budget or count > COMMON_SHARE * total):
            break
        chosen.append(term)
        covered += count
    return chosen


def _any_of(words: list[str]) -> str:
    """An FTS5 query matching any of the words, each a quoted string (so operators in questions are plain words)."""
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


def _bm25l(api: apsw.FTS5ExtensionApi, *idfs: float) -> float:
    """The current chunk's BM25L as Haystack's `InMemoryDocumentStore._score_bm25l` computes it: `idfs[i]` is the
    IDF of the query's i-th phrase (one word each); the average length is the index's (FTS5 keeps the totals)."""
    rows = api.row_count
    average = api.column_total_size(0) / rows if rows else 0.0
    if not average:
        return 0.0
    k1, b, delta = BM25L["k1"], BM25L["b"], BM25L["delta"]
    norm = 1.0 - b + b * api.column_size(0) / average
    score = 0.0
    for phrase, idf in enumerate(idfs):
        count = len(api.phrase_locations(phrase)[0]) if idf else 0  # idf 0: a phrase repeating another's word
        if count:
            ctd = count / norm
            score += idf * (1.0 + k1) * (ctd + delta) / (k1 + ctd + delta)
    return score


def _reason(error: BaseException) -> str:
    message = " ".join(str(error).split()) or type(error).__name__
    return message if len(message) <= 300 else message[:300] + "…"


__all__ = ["SqliteChunkStore", "database_path", "holds_talks"]
