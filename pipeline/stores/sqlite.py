"""The default chunk store: one SQLite file in the workspace (`WORKSPACE/talks.db`), opened through `apsw`.

Tables:
- `talks`: one header a talk (fingerprint of the transcript, chunking settings, chunk count, time of writing);
- `chunks`: the chunks (id, talk, position, text, metadata as JSON; talk, event and speaker also as indexed columns
  for filters; optionally the chunk's sentence embeddings, float16, for highlighting without a model);
- `chunks_fts`: an FTS5 index of the chunk texts (Porter-stemmed, contentless, rows deleted with their chunk);
- `chunks_vec`: a `sqlite-vec` `vec0` table of the unit-length embeddings (exact nearest neighbours).

Guarantees come from SQLite itself: the file is in WAL mode, so readers never wait for a writer and see the last
committed state; a talk is replaced in one `BEGIN IMMEDIATE` transaction (old rows deleted, new ones inserted, header
upserted), so a crash or a kill leaves the talk old or new, never half; a second writer waits for the first (busy
timeout) instead of failing. Commits are durable (`synchronous=FULL`).

Keyword retrieval matches any of the question's words (an FTS5 `OR` query) and ranks by FTS5's `bm25()` (Okapi
BM25, k1 = 1.2, b = 0.75). Words in more than half of the chunks are left out of the match: FTS5 gives them an IDF
of ~0 (`log((N - df + 0.5) / (df + 0.5))`, floored at 1e-6), so they would not change any score, only make every chunk
a candidate. Embedding retrieval is exact: a brute-force `vec0` scan (L2 on unit vectors, the same order as cosine),
or, with filters, distances over the filtered chunks only; `Document.score` is the cosine similarity.

Threads: each thread uses its own connection (opened on first use), so one store object can serve many concurrent
questions in a long-lived process (`talks serve`); SQLite serialises the writers.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import apsw
import numpy as np
import sqlite_vec

from pipeline.stores.base import EMBEDDING_DIMENSION, ChunkStore, Facets, StoreError, check_dimension

if TYPE_CHECKING:  # haystack (and with it torch) is imported only when chunks are read or retrieved
    from haystack import Document

    from pipeline.stores.sqlite_retrievers import SqliteEmbeddingRetriever, SqliteKeywordRetriever

DATABASE_NAME = "talks.db"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000  # a second writer waits this long for the first one's transaction
TOKENIZER = "porter unicode61 remove_diacritics 2"
COMMON_SHARE = 0.5  # words in more chunks than this share get FTS5 IDF ~0 and are left out of the match
SENTENCE_DTYPE = np.float16

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS talks (talk_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, settings TEXT NOT NULL,"
    " chunks INTEGER NOT NULL, updated_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chunks (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, talk_id TEXT NOT NULL,"
    " position INTEGER NOT NULL, content TEXT NOT NULL, meta TEXT NOT NULL, event TEXT, speaker TEXT,"
    " sentence_vectors BLOB)",
    "CREATE INDEX IF NOT EXISTS chunks_talk ON chunks (talk_id, position)",
    "CREATE INDEX IF NOT EXISTS chunks_event ON chunks (event)",
    "CREATE INDEX IF NOT EXISTS chunks_speaker ON chunks (speaker)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(content, content='', contentless_delete=1,"
    f" tokenize='{TOKENIZER}')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_terms USING fts5vocab(chunks_fts, 'row')",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vec USING vec0(embedding float[{EMBEDDING_DIMENSION}])",
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
        except apsw.NotADBError:
            raise StoreError(f"{self.describe()}: not an SQLite database (damaged, or another file)") from None
        except (apsw.Error, OSError) as error:
            raise StoreError(f"{self.describe()}: cannot open: {_reason(error)}") from None
        self._local.connection = connection
        with self._guard:
            self._connections.append(connection)
        return connection

    def _check_schema(self, connection: apsw.Connection) -> None:
        """A read-only database must already hold this version's tables: nothing can be created in it."""
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.describe()}: read-only and of schema {version}, not {SCHEMA_VERSION}: "
                "open it once with write access to upgrade it"
            )

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
                for statement in _SCHEMA:
                    connection.execute(statement)
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
        for connection in connections:
            connection.close()
        self._local = threading.local()

    # -- writing --

    def replace_talk(
        self, talk_id: str, documents: list[Document], fingerprint: str, settings: dict, sentence_vectors=None
    ) -> None:
        """One transaction: the talk's old chunks deleted, the new ones (and their index entries) inserted, the
        header upserted. `sentence_vectors`: optional, one (sentences × 384) array a chunk, kept for highlighting."""
        check_dimension(documents, self.describe())
        for document in documents:
            owner = document.meta.get("talk_id")
            if owner != talk_id:
                raise StoreError(f"{self.describe()}: chunk {document.id} belongs to talk {owner!r}, not {talk_id!r}")
        if sentence_vectors is not None and len(sentence_vectors) != len(documents):
            raise StoreError(f"{self.describe()}: {len(sentence_vectors)} sentence arrays for {len(documents)} chunks")
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
                "INSERT INTO talks (talk_id, fingerprint, settings, chunks, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (talk_id) DO UPDATE SET fingerprint = excluded.fingerprint,"
                " settings = excluded.settings, chunks = excluded.chunks, updated_at = excluded.updated_at",
                (talk_id, fingerprint, json.dumps(settings), len(documents), time.time()),
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
        rows = self._rows(
            "SELECT fingerprint, settings, chunks FROM talks WHERE talk_id = ?", (talk_id,), f"reading {talk_id}"
        )
        if not rows:
            return None
        fingerprint, settings, chunks = rows[0]
        return {"talk_id": talk_id, "fingerprint": fingerprint, "settings": json.loads(settings), "chunks": chunks}

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

    def _query_terms(self, query: str) -> list[tuple[str, str]]:
        """(stemmed term, word as written) for each distinct term of the query, by the index's own tokenizer."""
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            name, *arguments = TOKENIZER.split()
            tokenizer = self._local.tokenizer = self._connection().fts5_tokenizer(name, arguments)
        encoded = query.encode("utf-8")
        seen: dict[str, str] = {}
        for start, end, term, *_ in tokenizer(encoded, apsw.FTS5_TOKENIZE_QUERY, None):
            seen.setdefault(term, encoded[start:end].decode("utf-8", "replace"))
        return list(seen.items())

    def keyword_search(self, query: str, filters: dict[str, Any] | None, top_k: int) -> list[Document]:
        """Chunks holding any of the query's words, best FTS5 BM25 first (`Document.score` = BM25, positive)."""
        from haystack import Document

        terms = self._query_terms(query)
        if not terms:
            return []
        with self._errors("keyword retrieval"):
            db = self._connection()
            total = db.execute("SELECT coalesce(sum(chunks), 0) FROM talks").fetchone()[0]  # no chunk scan
            marks = ", ".join("?" for _ in terms)
            frequencies = dict(
                db.execute(f"SELECT term, doc FROM chunks_terms WHERE term IN ({marks})", [t for t, _ in terms])
            )
            present = [(term, word) for term, word in terms if frequencies.get(term, 0) > 0]
            chosen = [(t, w) for t, w in present if frequencies[t] <= COMMON_SHARE * total] or present
            if not chosen:
                return []
            match = " OR ".join('"' + word.replace('"', '""') + '"' for _, word in chosen)
            where, params = filters_to_sql(filters)
            rows = db.execute(
                "SELECT c.id, c.content, c.meta, bm25(chunks_fts) AS rank FROM chunks_fts"
                f" JOIN chunks c ON c.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? AND ({where})"
                " ORDER BY rank, c.rowid LIMIT ?",
                [match, *params, int(top_k)],
            ).fetchall()
        return [Document(id=i, content=c, meta=json.loads(m), score=-float(rank)) for i, c, m, rank in rows]

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
        vector = _unit(query_embedding).tobytes()
        with self._errors("embedding retrieval"):
            db = self._connection()
            if filters:
                where, params = filters_to_sql(filters)
                rows = db.execute(
                    "SELECT c.id, c.content, c.meta, vec_distance_l2(v.embedding, ?) AS distance FROM chunks c"
                    f" JOIN chunks_vec v ON v.rowid = c.rowid WHERE ({where}) ORDER BY distance, c.rowid LIMIT ?",
                    [vector, *params, int(top_k)],
                ).fetchall()
            else:
                nearest = db.execute(
                    "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?", (vector, int(top_k))
                ).fetchall()
                distances = dict(nearest)
                marks = ", ".join("?" for _ in nearest)
                found = db.execute(
                    f"SELECT rowid, id, content, meta FROM chunks WHERE rowid IN ({marks})", list(distances)
                ).fetchall()
                by_rowid = {row[0]: row[1:] for row in found}
                rows = [(*by_rowid[r], distances[r]) for r, _ in nearest if r in by_rowid]
        return [Document(id=i, content=c, meta=json.loads(m), score=1.0 - float(d) ** 2 / 2) for i, c, m, d in rows]


def _reason(error: BaseException) -> str:
    message = " ".join(str(error).split()) or type(error).__name__
    return message if len(message) <= 300 else message[:300] + "…"


__all__ = ["SqliteChunkStore", "database_path", "holds_talks"]
