"""The PostgreSQL + pgvector chunk store. Three tables, `talks` being the configured name:

- `talks_chunks`: the chunks, a Haystack `PgvectorDocumentStore` table (HNSW cosine index, full-text GIN index);
- `talks_lexemes`: each chunk's English `tsvector` and token count, for BM25 (GIN index; rows go with their chunk);
- `talks_talks`: one header a talk (fingerprint, chunking settings, chunk and token counts, time of writing).

A talk is replaced in one transaction (old chunks deleted, new ones and their lexemes inserted, header upserted)
under a per-talk advisory lock: readers see the old talk or the new one, a crash leaves the old one, re-ingesting
never duplicates, and processes writing different talks never wait for each other.

Keyword retrieval matches any of the question's words (Haystack's `PgvectorKeywordRetriever` needs all of them, so
it finds nothing for most questions) and ranks with Okapi BM25 over PostgreSQL's stemmed lexemes: document
frequencies come from the GIN index, the average length from the talk headers.

The connection string (which may hold a password) is never serialised: pipelines dumped with `to_dict` keep the URL
without user, password and query, and a loaded pipeline takes the full string from `TALKS_STORE_URL` when that
points at the same server (or lets libpq find the password in `PGPASSWORD` / `~/.pgpass`).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from haystack import Document, component, default_from_dict, default_to_dict
from haystack.document_stores.errors import DocumentStoreError
from haystack.document_stores.types import FilterPolicy
from haystack.document_stores.types.filter_policy import apply_filter_policy
from haystack.utils.auth import Secret
from haystack_integrations.components.retrievers.pgvector import PgvectorEmbeddingRetriever
from haystack_integrations.document_stores.pgvector import PgvectorDocumentStore
from haystack_integrations.document_stores.pgvector.converters import (
    _from_haystack_to_pg_documents,
    _from_pg_to_haystack_documents,
)
from haystack_integrations.document_stores.pgvector.document_store import CREATE_TABLE_STATEMENT, INSERT_STATEMENT
from haystack_integrations.document_stores.pgvector.filters import (
    _convert_filters_to_where_clause_and_params,
    _validate_filters,
)
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier
from psycopg.sql import Literal as SQLLiteral
from psycopg.types.json import Jsonb

from pipeline.stores.base import EMBEDDING_DIMENSION, ChunkStore, Facets, StoreError, check_dimension

URL_ENV = "TALKS_STORE_URL"
NAME_ENV = "TALKS_STORE_NAME"
LANGUAGE = "english"
SCHEMA = "public"
CONNECT_TIMEOUT = 10  # seconds, unless the connection string says otherwise
HNSW_EF_SEARCH = 100  # HNSW candidate list at query time (pgvector's default 40 caps results at 40)
BM25_K1 = 1.2
BM25_B = 0.75
COMMON_FRACTION = 0.1  # lexemes in more chunks than this are "common" for MaxScore pruning
_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
_VECTOR_TYPE = f"vector({EMBEDDING_DIMENSION})"


# --- connection strings and messages ------------------------------------------------------------------------------


def public_connection_url(url: str | None) -> str:
    """`postgresql://host:port/db`: the connection string without user, password or options, for messages and dumps.
    A `key=value` string is rewritten as such a URL; a malformed one is never echoed."""
    from pipeline.config import public_url

    if not url:
        return ""
    if re.match(r"postgres(ql)?://", url):
        return public_url(url) or ""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "(malformed connection string)"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{host}{port}/{params.get('dbname') or ''}"


def _password(url: str) -> str | None:
    with suppress(psycopg.Error):
        return conninfo_to_dict(url).get("password") or None
    return None


def _reason(error: BaseException, url: str = "") -> str:
    """The error's message on one line, without any password from `url`."""
    message = " ".join(str(error).split()) or type(error).__name__
    message = re.sub(r"^connection failed: ", "", message)
    password = _password(url) if url else None
    if password:
        message = message.replace(password, "***")
    return message if len(message) <= 400 else message[:400] + "…"


def _conninfo(url: str, where: str) -> dict[str, Any]:
    if not url or not url.strip():
        raise StoreError(f"{where}: no connection string (--store-url or {URL_ENV})")
    try:
        return conninfo_to_dict(url)
    except psycopg.Error as error:
        # libpq quotes the part of the string it rejects, which may hold the password: only `"="` and such stay
        detail = re.sub(r'"([^"]*)"', lambda quoted: quoted[0] if len(quoted[1]) <= 1 else '"…"', str(error))
        detail = re.sub(r"[^\s\"/]*:[^\s\"@]*@", "…@", " ".join(detail.split()))  # and any user:password@
        raise StoreError(
            f"{where}: malformed PostgreSQL connection string ({detail}); expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE or 'host=HOST port=PORT dbname=DATABASE user=USER'"
        ) from None


def _quote_lexeme(lexeme: str) -> str:
    """A lexeme as a `tsquery` operand: quoted, so no character in it is read as an operator."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


# --- the document store -------------------------------------------------------------------------------------------


class PgvectorChunkDocumentStore(PgvectorDocumentStore):
    """Haystack's `PgvectorDocumentStore` over the `{table}_chunks` table, set up for this tool: 384-dimensional cosine
    HNSW and English full-text indexes, the talk headers in `{table}_talks`, tables and extension created under
    advisory locks (so concurrent first runs don't collide), and errors as one-line `StoreError`s.

    Holds the connection string privately: `to_dict` writes the public URL and the name of the environment variable
    that may hold the full string (see the module docstring)."""

    def __init__(self, *, url: str, table: str = "talks", url_env: str = URL_ENV, language: str = LANGUAGE) -> None:
        _conninfo(url, "pgvector")  # a malformed string fails here, before it could be echoed anywhere
        if not _TABLE_NAME.fullmatch(table or ""):
            raise StoreError(
                f"pgvector {public_connection_url(url)}: invalid table name '{table}' (lower-case letters, digits and "
                "underscores, at most 40, not starting with a digit)"
            )
        super().__init__(
            connection_string=Secret.from_env_var(url_env, strict=False),  # never read: see _create_connection
            create_extension=False,  # created in _create_connection, with clear messages
            schema_name=SCHEMA,
            table_name=f"{table}_chunks",
            language=language,
            embedding_dimension=EMBEDDING_DIMENSION,
            vector_function="cosine_similarity",
            search_strategy="hnsw",
            hnsw_index_name=f"{table}_chunks_hnsw",
            keyword_index_name=f"{table}_chunks_keyword",
            hnsw_ef_search=HNSW_EF_SEARCH,
        )
        self._url = url
        self.table = table
        self.url_env = url_env
        self.talks_table = f"{table}_talks"
        self.lexemes_table = f"{table}_lexemes"
        self.public_url = public_connection_url(url)

    def describe(self) -> str:
        return f"pgvector {self.public_url} table {self.table}"

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self, url=self.public_url, table=self.table, url_env=self.url_env, language=self.language
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PgvectorChunkDocumentStore:
        """The serialised public URL, or the full string from the environment variable when it names the same
        database."""
        params = dict(data.get("init_parameters", {}))
        full = os.environ.get(params.get("url_env") or URL_ENV)
        if full and public_connection_url(full) == params.get("url"):
            params["url"] = full
        return default_from_dict(cls, {**data, "init_parameters": params})

    # -- connection and setup (called by PgvectorDocumentStore._ensure_db_setup) --

    def _create_connection(self) -> Connection:
        where = self.describe()
        params = _conninfo(self._url, where)
        options = {} if params.get("connect_timeout") else {"connect_timeout": CONNECT_TIMEOUT}
        try:
            connection = Connection.connect(self._url, autocommit=True, **options)
        except psycopg.Error as error:
            raise StoreError(f"{where}: cannot connect: {_reason(error, self._url)}") from None
        try:
            self._ensure_extension(connection, where)
            # pgvector's settings, applied when the extension's library loads: a longer HNSW candidate list, and
            # filtered searches that keep scanning the index until they have top_k rows, in exact order
            connection.execute(SQL("SET hnsw.ef_search = {}").format(SQLLiteral(self.hnsw_ef_search)))
            connection.execute("SET hnsw.iterative_scan = strict_order")
        except BaseException:
            connection.close()
            raise
        return connection

    def _ensure_extension(self, connection: Connection, where: str) -> None:
        try:
            if connection.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
                return
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(hashtextextended('talks-pgvector:extension', 0))")
                connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege:
            info = connection.info
            raise StoreError(
                f"{where}: the pgvector extension is not installed in database '{info.dbname}' and user "
                f"'{info.user}' may not create it: ask an administrator to run `CREATE EXTENSION vector;` there"
            ) from None
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as error:
            raise StoreError(
                f"{where}: the pgvector extension is not available on this PostgreSQL server ({_reason(error)}); "
                "install pgvector (https://github.com/pgvector/pgvector), then run `CREATE EXTENSION vector;`"
            ) from None
        except psycopg.Error as error:
            raise StoreError(f"{where}: cannot create the pgvector extension: {_reason(error)}") from None

    def _initialize_table(self) -> None:
        """Creates what is missing (chunk table and its indexes, header table, lexeme table) and checks an existing
        chunk table holds 384-dimensional vectors; under an advisory lock, so concurrent first runs don't collide."""
        assert self._connection is not None
        connection = self._connection
        chunks, schema = Identifier(self.table_name), Identifier(self.schema_name)
        language = SQLLiteral(self.language)
        with self.errors("setting up the tables"), connection.transaction():
            lock = f"talks-pgvector:setup:{self.schema_name}.{self.table}"
            connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
            column = connection.execute(
                "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(%s) AND a.attname = 'embedding' AND NOT a.attisdropped",
                (f"{self.schema_name}.{self.table_name}",),
            ).fetchone()
            exists = connection.execute("SELECT to_regclass(%s)", (f"{self.schema_name}.{self.table_name}",))
            if exists.fetchone()[0] is None:  # type: ignore[index]
                connection.execute(
                    SQL(CREATE_TABLE_STATEMENT).format(
                        schema_name=schema,
                        table_name=chunks,
                        embedding_col_type=SQL(self.vector_type),
                        embedding_dimension=SQLLiteral(self.embedding_dimension),
                    )
                )
            elif column is None or column[0] != _VECTOR_TYPE:
                found = f"{column[0]} embeddings" if column else "no embedding column"
                raise StoreError(
                    f"{self.describe()}: dimension mismatch: table {self.table_name} holds {found}, but the embedding "
                    f"model (all-MiniLM-L6-v2) makes {EMBEDDING_DIMENSION} dimensions; choose another table name "
                    f"({NAME_ENV} or `name` under [store] in talks.toml) or drop the table"
                )
            connection.execute(
                # without a pending list, the planner prices (and a scan reads) only the entries it needs
                SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {}.{} USING GIN (to_tsvector({}, content)) "
                    "WITH (fastupdate = off)"
                ).format(Identifier(self.keyword_index_name), schema, chunks, language)
            )
            connection.execute(
                SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} USING hnsw (embedding vector_cosine_ops)").format(
                    Identifier(self.hnsw_index_name), schema, chunks
                )
            )
            connection.execute(
                SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} ((meta->>'talk_id'))").format(
                    Identifier(f"{self.table}_chunks_talk_id"), schema, chunks
                )
            )
            connection.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {}.{} (talk_id TEXT PRIMARY KEY, fingerprint TEXT, settings JSONB, "
                    "chunks INTEGER NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0, "
                    "updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                ).format(schema, Identifier(self.talks_table))
            )
            connection.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {}.{} (id VARCHAR(128) PRIMARY KEY REFERENCES {}.{} (id) "
                    "ON DELETE CASCADE, tsv TSVECTOR NOT NULL, tokens INTEGER NOT NULL)"
                ).format(schema, Identifier(self.lexemes_table), schema, chunks)
            )
            connection.execute(
                SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} USING GIN (tsv) WITH (fastupdate = off)").format(
                    Identifier(f"{self.lexemes_table}_tsv"), schema, Identifier(self.lexemes_table)
                )
            )
        self._table_initialized = True

    def connection(self) -> Connection:
        """The open, set-up connection (reconnecting if it dropped)."""
        with self.errors("connecting"):
            self._ensure_db_setup()
            if not self._table_initialized:  # an earlier setup on this connection failed: check again
                self._initialize_table()
        assert self._connection is not None
        return self._connection

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Database errors as one-line `StoreError`s naming the store and what failed."""
        try:
            yield
        except StoreError:
            raise
        except (psycopg.Error, DocumentStoreError) as error:
            cause = error.__cause__ if isinstance(error, DocumentStoreError) and error.__cause__ else error
            raise StoreError(f"{self.describe()}: {action} failed: {_reason(cause, self._url)}") from None

    # -- SQL pieces --

    def chunks_sql(self) -> Composed:
        return SQL("{}.{}").format(Identifier(self.schema_name), Identifier(self.table_name))

    def talks_sql(self) -> Composed:
        return SQL("{}.{}").format(Identifier(self.schema_name), Identifier(self.talks_table))

    def lexemes_sql(self) -> Composed:
        return SQL("{}.{}").format(Identifier(self.schema_name), Identifier(self.lexemes_table))

    def tsvector_sql(self, column: str = "content") -> Composed:
        """The expression the GIN index is built on: queries must use exactly this to use the index."""
        return SQL("to_tsvector({}, {})").format(SQLLiteral(self.language), SQL(column))

    def talk_lock(self, connection: Connection, talk_id: str) -> None:
        """Serialises writers of one talk until the end of the transaction; other talks are not affected."""
        key = f"talks-pgvector:talk:{self.schema_name}.{self.table}:{talk_id}"
        connection.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))

    # -- retrieval --

    def _embedding_retrieval(self, query_embedding: list[float], **kwargs: Any) -> list[Document]:
        """`PgvectorDocumentStore`'s embedding search, with connection and database errors as `StoreError`s."""
        self.connection()
        with self.errors("embedding retrieval"):
            return super()._embedding_retrieval(query_embedding, **kwargs)

    def _any_word_retrieval(
        self,
        query: str,
        *,
        filters: dict[str, Any] | None,
        top_k: int,
        k1: float = BM25_K1,
        b: float = BM25_B,
        prune: bool = True,
    ) -> list[Document]:
        """Chunks containing any of the query's lexemes, by Okapi BM25 (highest first).

        Reads the lexeme table (each chunk's `tsvector` and token count, written with the chunk): document frequencies
        are counted through its GIN index, the average chunk length comes from the talk headers. With `prune` (the
        result is the same, only faster), chunks are first looked up by the rare lexemes only (in at most a tenth of
        the chunks); the common ones still count in every score. A chunk holding nothing but common lexemes scores
        below the sum of their upper bounds `idf * (k1 + 1)`, so when the top_k-th chunk found scores at least that
        much, nothing is missing; otherwise the search runs again over all lexemes (MaxScore)."""
        _validate_filters(filters)
        connection = self.connection()
        with self.errors("keyword retrieval"):
            cursor = connection.cursor(row_factory=dict_row)
            stats = cursor.execute(
                SQL(
                    "SELECT array(SELECT DISTINCT lexeme FROM unnest(to_tsvector({}, %s)) ORDER BY 1) AS lexemes, "
                    "(SELECT coalesce(sum(chunks), 0) FROM {talks}) AS chunks, "
                    "(SELECT coalesce(sum(tokens), 0) FROM {talks}) AS tokens"
                ).format(SQLLiteral(self.language), talks=self.talks_sql()),
                (query,),
            ).fetchone()
            assert stats is not None
            lexemes: list[str] = stats["lexemes"]
            total = int(stats["chunks"])
            if not lexemes or total == 0:
                return []
            operands = [_quote_lexeme(lexeme) for lexeme in lexemes]
            rows = cursor.execute(
                SQL(
                    "SELECT (SELECT count(*) FROM {} WHERE tsv @@ q.operand::tsquery) AS df "
                    "FROM unnest(%s::text[]) WITH ORDINALITY AS q(operand, i) ORDER BY q.i"
                ).format(self.lexemes_sql()),
                (operands,),
            ).fetchall()
            frequencies = [min(int(row["df"]), total) for row in rows]
            idf = [math.log(1 + (total - df + 0.5) / (df + 0.5)) for df in frequencies]
            average_length = max(int(stats["tokens"]) / total, 1.0)
            where, filter_params = (SQL(""), ())
            if filters:
                where, filter_params = _convert_filters_to_where_clause_and_params(filters, operator="AND")
            sql = SQL(
                "SELECT c.*, s.score FROM {lexemes} l JOIN {chunks} c USING (id) CROSS JOIN LATERAL ("
                " SELECT coalesce(sum(t.idf * d.tf * ({k1} + 1)"
                "  / (d.tf + {k1} * (1 - {b} + {b} * l.tokens / {average}))), 0) AS score"
                " FROM (SELECT lexeme, coalesce(array_length(positions, 1), 1) AS tf FROM unnest(l.tsv)) d"
                " JOIN unnest(%s::text[], %s::float8[]) AS t(lexeme, idf) USING (lexeme)"
                ") s WHERE l.tsv @@ %s::tsquery{where} ORDER BY s.score DESC, c.id LIMIT {top_k}"
            ).format(
                lexemes=self.lexemes_sql(),
                chunks=self.chunks_sql(),
                k1=SQLLiteral(float(k1)),
                b=SQLLiteral(float(b)),
                average=SQLLiteral(float(average_length)),
                where=where,
                top_k=SQLLiteral(int(top_k)),
            )

            def search(selected: list[int]) -> list[dict[str, Any]]:
                matching = " | ".join(operands[i] for i in selected)
                return cursor.execute(sql, (lexemes, idf, matching, *filter_params)).fetchall()

            everything = list(range(len(lexemes)))
            rare = [i for i in everything if frequencies[i] <= COMMON_FRACTION * total]
            records = None
            if prune and rare and len(rare) < len(lexemes):
                records = search(rare)
                bound = sum(idf[i] * (k1 + 1) for i in everything if i not in rare)
                if len(records) < top_k or records[-1]["score"] < bound:
                    records = None  # a chunk with only common lexemes might belong in the top_k
            if records is None:
                records = search(everything)
        return _from_pg_to_haystack_documents(records)


# --- the retrievers -----------------------------------------------------------------------------------------------


@component
class PgvectorAnyWordRetriever:
    """Keyword retrieval for natural-language questions: chunks holding any of the question's (stemmed, non-stop)
    words, ranked by Okapi BM25 with document frequencies from the GIN index, so a rare word outweighs common ones.
    `Document.score` is the BM25 score. Takes Haystack metadata filters.

    Usage example:
    ```python
    import os

    from haystack import Document

    from pipeline.stores.pgvector import PgvectorAnyWordRetriever, PgvectorChunkStore

    def axis(n: int) -> list[float]:  # a toy unit vector
        return [float(i == n) for i in range(384)]

    store = PgvectorChunkStore(os.environ["TALKS_STORE_URL"])  # a PostgreSQL database with the vector extension
    talk = {"talk_id": "demo"}
    chunks = [
        Document(id="demo:0-3", content="We picked the Apache licence.", meta=talk, embedding=axis(0)),
        Document(id="demo:4-7", content="Pricing per seat scared small teams.", meta=talk, embedding=axis(1)),
    ]
    store.replace_talk("demo", chunks, fingerprint="v1", settings={})
    retriever = PgvectorAnyWordRetriever(document_store=store.document_store, top_k=5)
    print([document.id for document in retriever.run(query="What about pricing?")["documents"]])  # ['demo:4-7']
    store.close()
    ```
    """

    def __init__(
        self,
        *,
        document_store: PgvectorChunkDocumentStore,
        filters: dict[str, Any] | None = None,
        top_k: int = 10,
        k1: float = BM25_K1,
        b: float = BM25_B,
        filter_policy: str | FilterPolicy = FilterPolicy.REPLACE,
    ) -> None:
        if not isinstance(document_store, PgvectorChunkDocumentStore):
            raise ValueError("document_store must be a PgvectorChunkDocumentStore")
        self.document_store = document_store
        self.filters = filters or {}
        self.top_k = top_k
        self.k1 = k1
        self.b = b
        self.filter_policy = (
            filter_policy if isinstance(filter_policy, FilterPolicy) else FilterPolicy.from_str(filter_policy)
        )

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            document_store=self.document_store.to_dict(),
            filters=self.filters,
            top_k=self.top_k,
            k1=self.k1,
            b=self.b,
            filter_policy=self.filter_policy.value,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PgvectorAnyWordRetriever:
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None) -> dict[str, Any]:
        """
        :param query: the question.
        :param filters: Haystack metadata filters, applied by the filter policy set at construction.
        :param top_k: how many chunks at most (default: as set at construction).
        :returns: `documents`, the chunks best first, `score` their BM25 score.
        """
        filters = apply_filter_policy(self.filter_policy, self.filters, filters)
        documents = self.document_store._any_word_retrieval(
            query, filters=filters or None, top_k=top_k or self.top_k, k1=self.k1, b=self.b
        )
        return {"documents": documents}

    def close(self) -> None:
        self.document_store.close()


@component
class PgvectorChunkEmbeddingRetriever(PgvectorEmbeddingRetriever):
    """Haystack's `PgvectorEmbeddingRetriever` (cosine similarity as `Document.score`) over a
    `PgvectorChunkDocumentStore`: serialised without credentials, database errors as `StoreError`s. Its `run` is
    the base class's: `query_embedding`, `filters`, `top_k` and `vector_function` in, `documents` out.

    Usage example:
    ```python
    import os

    from haystack import Document

    from pipeline.stores.pgvector import PgvectorChunkEmbeddingRetriever, PgvectorChunkStore

    def axis(n: int) -> list[float]:  # a toy unit vector
        return [float(i == n) for i in range(384)]

    store = PgvectorChunkStore(os.environ["TALKS_STORE_URL"])  # a PostgreSQL database with the vector extension
    talk = {"talk_id": "demo"}
    chunks = [
        Document(id="demo:0-3", content="We picked the Apache licence.", meta=talk, embedding=axis(0)),
        Document(id="demo:4-7", content="Pricing per seat scared small teams.", meta=talk, embedding=axis(1)),
    ]
    store.replace_talk("demo", chunks, fingerprint="v1", settings={})
    retriever = PgvectorChunkEmbeddingRetriever(document_store=store.document_store, top_k=1)
    documents = retriever.run(query_embedding=axis(1))["documents"]
    print([(document.id, round(document.score, 3)) for document in documents])  # [('demo:4-7', 1.0)]
    store.close()
    ```
    """

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PgvectorChunkEmbeddingRetriever:
        return default_from_dict(cls, data)


# --- the chunk store ----------------------------------------------------------------------------------------------


class PgvectorChunkStore(ChunkStore):
    """Chunks in PostgreSQL with pgvector: see the module docstring. Connects (and creates what is missing) when
    opened, so a wrong connection string, a missing extension or a table of another dimension fail at once."""

    kind = "pgvector"

    def __init__(self, connection_string: str, table: str = "talks") -> None:
        self.document_store = PgvectorChunkDocumentStore(url=connection_string, table=table)
        self.table = table
        self._writing = threading.Lock()  # one connection: threads sharing this store take turns at transactions
        try:
            self.document_store.connection()
        except BaseException:
            self.document_store.close()  # e.g. connected, but the table holds another dimension
            raise

    def describe(self) -> str:
        return self.document_store.describe()

    def _cursor(self):
        return self.document_store.connection().cursor(row_factory=dict_row)

    def replace_talk(self, talk_id: str, documents: list[Document], fingerprint: str, settings: dict) -> None:
        """One transaction: the talk's old chunks deleted, the new ones inserted, the header upserted."""
        check_dimension(documents, self.describe())
        for document in documents:
            owner = document.meta.get("talk_id")
            if owner != talk_id:
                raise StoreError(f"{self.describe()}: chunk {document.id} belongs to talk {owner!r}, not {talk_id!r}")
        store = self.document_store
        rows = _from_haystack_to_pg_documents(documents)
        with self._writing, store.errors(f"writing talk {talk_id}"), store.connection().transaction() as transaction:
            connection = transaction.connection
            store.talk_lock(connection, talk_id)
            cursor = connection.cursor()
            cursor.execute(SQL("DELETE FROM {} WHERE meta->>'talk_id' = %s").format(store.chunks_sql()), (talk_id,))
            if rows:
                insert = SQL(INSERT_STATEMENT).format(
                    schema_name=Identifier(store.schema_name), table_name=Identifier(store.table_name)
                )
                cursor.executemany(insert, rows)
            lengths = cursor.execute(
                SQL(
                    "INSERT INTO {} (id, tsv, tokens) SELECT c.id, v.tsv, "
                    "(SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) FROM unnest(v.tsv)) "
                    "FROM {} c CROSS JOIN LATERAL (SELECT {} AS tsv) v WHERE c.meta->>'talk_id' = %s RETURNING tokens"
                ).format(store.lexemes_sql(), store.chunks_sql(), store.tsvector_sql("c.content")),
                (talk_id,),
            ).fetchall()
            cursor.execute(
                SQL(
                    "INSERT INTO {} (talk_id, fingerprint, settings, chunks, tokens, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (talk_id) DO UPDATE SET "
                    "fingerprint = EXCLUDED.fingerprint, settings = EXCLUDED.settings, chunks = EXCLUDED.chunks, "
                    "tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at"
                ).format(store.talks_sql()),
                (talk_id, fingerprint, Jsonb(settings), len(documents), sum(row[0] for row in lengths)),
            )

    def remove_talk(self, talk_id: str) -> None:
        store = self.document_store
        with self._writing, store.errors(f"removing talk {talk_id}"), store.connection().transaction() as transaction:
            connection = transaction.connection
            store.talk_lock(connection, talk_id)
            connection.execute(SQL("DELETE FROM {} WHERE meta->>'talk_id' = %s").format(store.chunks_sql()), (talk_id,))
            connection.execute(SQL("DELETE FROM {} WHERE talk_id = %s").format(store.talks_sql()), (talk_id,))

    def talk_ids(self) -> list[str]:
        with self.document_store.errors("listing talks"):
            rows = self._cursor().execute(SQL("SELECT talk_id FROM {}").format(self.document_store.talks_sql()))
            return sorted(row["talk_id"] for row in rows.fetchall())

    def header(self, talk_id: str) -> dict[str, Any] | None:
        with self.document_store.errors(f"reading the header of {talk_id}"):
            row = (
                self._cursor()
                .execute(
                    SQL("SELECT talk_id, fingerprint, settings, chunks FROM {} WHERE talk_id = %s").format(
                        self.document_store.talks_sql()
                    ),
                    (talk_id,),
                )
                .fetchone()
            )
        if row is None:
            return None
        return {
            "talk_id": row["talk_id"],
            "fingerprint": row["fingerprint"],
            "settings": row["settings"] if row["settings"] is not None else {},
            "chunks": row["chunks"],
        }

    def documents(self, talk_id: str) -> list[Document]:
        order = "CASE WHEN jsonb_typeof(meta->'first_segment') = 'number' THEN (meta->'first_segment')::numeric END"
        with self.document_store.errors(f"reading the chunks of {talk_id}"):
            rows = (
                self._cursor()
                .execute(
                    SQL("SELECT * FROM {} WHERE meta->>'talk_id' = %s ORDER BY {}, id").format(
                        self.document_store.chunks_sql(), SQL(order)
                    ),
                    (talk_id,),
                )
                .fetchall()
            )
        return _from_pg_to_haystack_documents(rows)

    def count_chunks(self) -> int:
        with self.document_store.errors("counting chunks"):
            row = self._cursor().execute(SQL("SELECT count(*) AS n FROM {}").format(self.document_store.chunks_sql()))
            return int(row.fetchone()["n"])  # type: ignore[index]

    def facets(self) -> Facets:
        values: dict[str, list[str]] = {}
        with self.document_store.errors("reading talks, events and speakers"):
            for key in ("talk_id", "event", "speaker"):
                rows = (
                    self._cursor()
                    .execute(
                        SQL(
                            "SELECT DISTINCT meta->>{key} AS value FROM {} WHERE coalesce(meta->>{key}, '') <> ''"
                        ).format(self.document_store.chunks_sql(), key=SQLLiteral(key))
                    )
                    .fetchall()
                )
                values[key] = sorted(row["value"] for row in rows)
        return Facets(talk_ids=values["talk_id"], events=values["event"], speakers=values["speaker"])

    def retrievers(self, top_k: int) -> tuple[PgvectorAnyWordRetriever, PgvectorChunkEmbeddingRetriever]:
        store = self.document_store
        return (
            PgvectorAnyWordRetriever(document_store=store, top_k=top_k),
            PgvectorChunkEmbeddingRetriever(document_store=store, top_k=top_k),
        )

    def close(self) -> None:
        self.document_store.close()
