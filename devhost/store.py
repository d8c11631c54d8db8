"""SQLite persistence: instances, histories and every piece of queued work.

Each orchestration episode, activity completion and timer firing is one SQLite transaction, so a host killed at
any instant (kill -9) restarts from a consistent state: work that was queued is still queued, work that was
running is re-run (at-least-once, like Azure Functions), and a completion message is consumed with the episode that
applies it (so a crash never applies one twice; deliberate duplicates come from ``activity_duplicate_rate``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    runtime_status TEXT NOT NULL,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, id);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    fire_at TEXT NOT NULL,
    kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_fire ON timers(fire_at);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Work of a suspended instance is held, not pending: it neither runs nor keeps the host from being idle.
_NOT_SUSPENDED = (
    "LEFT JOIN instances ON instances.instance_id = inbox.instance_id "
    "WHERE instances.runtime_status IS NULL OR instances.runtime_status != 'Suspended'"
)

INSTANCE_COLUMNS = (
    "instance_id",
    "name",
    "execution_id",
    "input",
    "output",
    "custom_status",
    "runtime_status",
    "created_time",
    "last_updated_time",
    "parent_instance_id",
    "parent_execution_id",
    "parent_task_id",
    "history",
)


@dataclass
class Instance:
    """One orchestration instance (its current execution). JSON columns are decoded."""

    instance_id: str
    name: str
    execution_id: str
    input: str | None
    output: Any
    custom_status: Any
    runtime_status: str
    created_time: str
    last_updated_time: str
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Store:
    """Thin typed wrapper over one SQLite connection (callers serialise access with ``lock``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._depth = 0

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing unit of work (re-entrant: nested uses join the outer transaction)."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self._conn.execute(sql, params)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self._conn.execute(sql, params).fetchall())

    # ------------------------------------------------------------------ instances

    def get_instance(self, instance_id: str) -> Instance | None:
        found = self.rows("SELECT * FROM instances WHERE instance_id = ?", (instance_id,))
        return self._instance(found[0]) if found else None

    def list_instances(self) -> list[Instance]:
        return [self._instance(r) for r in self.rows("SELECT * FROM instances ORDER BY created_time, instance_id")]

    def save_instance(self, inst: Instance) -> None:
        values = (
            inst.instance_id,
            inst.name,
            inst.execution_id,
            inst.input,
            _dump(inst.output),
            _dump(inst.custom_status),
            inst.runtime_status,
            inst.created_time,
            inst.last_updated_time,
            inst.parent_instance_id,
            inst.parent_execution_id,
            inst.parent_task_id,
            json.dumps(inst.history),
        )
        marks = ",".join("?" for _ in INSTANCE_COLUMNS)
        self.execute(f"INSERT OR REPLACE INTO instances ({','.join(INSTANCE_COLUMNS)}) VALUES ({marks})", values)

    def delete_instance(self, instance_id: str) -> int:
        with self.transaction():
            for table in ("inbox", "activities", "timers"):
                self.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
            return self.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,)).rowcount

    @staticmethod
    def _instance(row: sqlite3.Row) -> Instance:
        return Instance(
            instance_id=row["instance_id"],
            name=row["name"],
            execution_id=row["execution_id"],
            input=row["input"],
            output=_load(row["output"]),
            custom_status=_load(row["custom_status"]),
            runtime_status=row["runtime_status"],
            created_time=row["created_time"],
            last_updated_time=row["last_updated_time"],
            parent_instance_id=row["parent_instance_id"],
            parent_execution_id=row["parent_execution_id"],
            parent_task_id=row["parent_task_id"],
            history=json.loads(row["history"]),
        )

    # ------------------------------------------------------------------ queues

    def enqueue(self, instance_id: str, execution_id: str | None, kind: str, payload: dict[str, Any]) -> None:
        self.execute(
            "INSERT INTO inbox (instance_id, execution_id, kind, payload) VALUES (?,?,?,?)",
            (instance_id, execution_id, kind, json.dumps(payload)),
        )

    def next_inbox_instance(self) -> str | None:
        """The instance with the oldest message, skipping suspended ones (their messages wait for resume)."""
        found = self.rows(f"SELECT inbox.instance_id FROM inbox {_NOT_SUSPENDED} ORDER BY inbox.id LIMIT 1")
        return found[0]["instance_id"] if found else None

    def earliest_timer(self) -> str | None:
        """The next fireAt among timers of instances that are not suspended."""
        found = self.rows(f"SELECT MIN(timers.fire_at) AS t FROM timers {_NOT_SUSPENDED.replace('inbox', 'timers')}")
        return found[0]["t"] if found else None

    def inbox_for(self, instance_id: str) -> list[sqlite3.Row]:
        return self.rows("SELECT * FROM inbox WHERE instance_id = ? ORDER BY id", (instance_id,))

    def delete_inbox(self, ids: list[int]) -> None:
        for msg_id in ids:
            self.execute("DELETE FROM inbox WHERE id = ?", (msg_id,))

    def get_meta(self, key: str) -> str | None:
        found = self.rows("SELECT value FROM meta WHERE key = ?", (key,))
        return str(found[0]["value"]) if found else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def counts(self) -> dict[str, int]:
        """Queue sizes read as one snapshot (under the lock no transaction can move work between tables)."""
        with self.lock:
            return {
                table: self.rows(f"SELECT COUNT(*) AS n FROM {table} {_NOT_SUSPENDED.replace('inbox', table)}")[0]["n"]
                for table in ("inbox", "activities", "timers")
            }
