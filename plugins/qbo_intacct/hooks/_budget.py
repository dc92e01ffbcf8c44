"""One API budget for every worker: request starts per sliding window, counted in the state database.

Why. QuickBooks allows each realm 500 requests a minute and 10 a second, whoever sends them. A
per-process limiter lets four Celery workers each believe they have the whole budget, so together
they send four times the limit and collect 429s. Here every start is counted in the state database
(the connection ``qbo_intacct_state``, the same database that already serialises token refreshes),
and a worker only starts a request when the fleet's starts in the window leave room.

How. A worker reserves starts in small *leases*: "up to n starts between now and now + ttl" (ttl is
a tenth of the shortest window near its limit, half of it with room to spare, at most a second).
Table ``qbo_intacct_api_starts`` holds one row per lease and budget, recorded at the lease's *end*;
a lease is granted when the leases recorded inside the last window plus n stay within the limit.
Recording at the end is what makes this exact: any two starts closer than a window belong to
leases that saw each other when the later one was granted, so no window ever holds more than the
limit. A lease of one start (the rule near a limit, and always under a limit as small as 10 a
second) is the caller's own start, sent as it is granted: it is recorded at that moment, as a
per-process limiter records a start, and can be used for 10 ms only. Starts a lease did not use
are handed back when the next lease is taken (those of a worker that stops mid-lease stay counted
for a window, so no lease takes more than an eighth of what is free). Lease sizes follow demand
(double when used up, shrink when not), so a busy worker touches the database about once per
lease, not once per request.

Table ``qbo_intacct_api_budgets`` holds one row per budget key: the lock that serialises the check
and the grant (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite takes the write lock with ``BEGIN
IMMEDIATE``) and ``paused_until``, set after a 429 so every worker backs off, not only the one that
was told. Times are the workers' wall clocks, so machines must keep their clocks in sync (NTP); the
hook's default of 475 a minute leaves margin under Intuit's 500. Rows older than the window go as it
slides. On SQLite these rows are written with fast commits (see ``state_db.state_engine``).

Concurrency (requests in flight) is not counted here: Airflow pools cap it across workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from qbo_intacct.hooks._transport import RateLimit, RateLimiter
from qbo_intacct.state_db import state_engine, state_url

_metadata = MetaData()
budgets_table = Table(
    "qbo_intacct_api_budgets",
    _metadata,
    Column("budget_key", String(200), primary_key=True),
    Column("paused_until", Float, nullable=False, default=0.0),
)
starts_table = Table(
    "qbo_intacct_api_starts",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("budget_key", String(200), nullable=False),
    Column("started_at", Float, nullable=False),  # the lease's end: no start of it is later
    Column("starts", Integer, nullable=False),
    Column("lease", String(32), nullable=False),
    Index("ix_qbo_intacct_api_starts_key_time", "budget_key", "started_at"),
)

#: Longest single sleep while waiting for room; the window is re-checked after it.
_MAX_NAP_SECONDS = 5.0
#: The most starts one lease asks for; the longest a lease lasts.
MAX_LEASE_STARTS = 32
MAX_LEASE_SECONDS = 1.0
#: A start reaches the server a little after it is counted here (more on a busy worker), and the
#: server counts from arrival: minute windows are kept this much longer, so the server never sees
#: one start too many. Per-second windows get no margin (as the per-process limiter had none).
WINDOW_MARGIN_SECONDS = 1.0
#: How long a one-start lease may be used: its start is sent as soon as the lease is granted.
SINGLE_START_SECONDS = 0.01


def budget_engine(url: str | None = None) -> Engine:
    """The engine for budget rows: the state database, with fast commits on SQLite."""
    return state_engine(url or state_url(), fast_commits=True)


def _ensure_tables(engine: Engine) -> None:
    try:
        _metadata.create_all(engine, checkfirst=True)
    except DBAPIError:  # two workers racing to create the tables: the loser's CREATE fails
        _metadata.create_all(engine, checkfirst=True)


def budget_key(*parts: str) -> str:
    """A readable key that fits the column: the parts joined, long ones shortened to a digest."""
    text = ":".join(parts)
    if len(text) <= 150:
        return text
    return text[:100] + ":" + hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass
class _Lease:
    token: str
    granted: int
    left: int
    ends: float


class SharedBudget:
    """Sliding-window budgets for one tenant, shared by every process that uses the same state database.

    :param scope: the tenant, e.g. ``quickbooks:<realm>:<api host>``; each limit's key is scope + name.
    :param limits: the windows (``requests_per_minute`` starts per ``window_seconds``).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        scope: str,
        limits: Sequence[RateLimit],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._engine = engine
        self._limits = {limit.name: limit for limit in limits}
        self._keys = {limit.name: budget_key(scope, limit.name) for limit in limits}
        self._clock = clock
        self._sleep = sleep
        self._is_sqlite = engine.dialect.name == "sqlite"
        self._local = threading.Lock()  # threads of this process take turns at the leases and the database
        self._leases: dict[tuple[str, ...], _Lease] = {}
        self._want: dict[tuple[str, ...], int] = {}
        self._granted = 0
        self.leases_taken = 0
        self._prepare()

    def _prepare(self) -> None:
        """The tables and this tenant's lock rows (again, if the state database was replaced meanwhile)."""
        _ensure_tables(self._engine)
        rows = [(key,) for key in sorted(self._keys.values())]
        ignore = "OR IGNORE " if self._is_sqlite else ""
        conflict = "" if self._is_sqlite else " ON CONFLICT (budget_key) DO NOTHING"
        with self._engine.begin() as conn:
            conn.exec_driver_sql(
                self._sql(
                    f"INSERT {ignore}INTO qbo_intacct_api_budgets (budget_key, paused_until) VALUES (?, 0){conflict}"  # noqa: S608
                ),
                rows,
            )

    # -- public ------------------------------------------------------------------------------------

    def acquire(self, names: Sequence[str]) -> float:
        """Block until every named window has room across the fleet, then count one start in each."""
        group = tuple(sorted(dict.fromkeys(names)))
        waited = 0.0
        while True:
            with self._local:
                lease = self._leases.get(group)
                if lease is not None and lease.left > 0 and self._clock() < lease.ends:
                    lease.left -= 1
                    return waited
                wait = self._recovering(lambda old=lease: self._renew(group, old))
            if wait <= 0.0:
                continue
            nap = min(wait, _MAX_NAP_SECONDS)
            self._sleep(nap)
            waited += nap

    def penalise(self, seconds: float) -> None:
        """Pause every worker's next start for ``seconds`` (a 429 told one of us the window is spent)."""
        keys = sorted(self._keys.values())
        with self._local:
            until = self._clock() + max(0.0, seconds)
            self._recovering(lambda: self._pause(keys, until))

    def _pause(self, keys: Sequence[str], until: float) -> float:
        marks = ", ".join("?" for _ in keys)
        with self._locked(keys) as conn:
            # What is left of our leases is handed back, not spent: the pause is for everyone.
            unused = [(lease.left, lease.token) for lease in self._leases.values() if lease.left > 0]
            if unused:
                conn.exec_driver_sql(
                    self._sql("UPDATE qbo_intacct_api_starts SET starts = starts - ? WHERE lease = ?"), unused
                )
            self._leases.clear()
            sql = f"UPDATE qbo_intacct_api_budgets SET paused_until = ? WHERE budget_key IN ({marks}) AND paused_until < ?"  # noqa: S608,E501
            conn.exec_driver_sql(self._sql(sql), (until, *keys, until))
        return 0.0

    def _recovering(self, work: Callable[[], float]) -> float:
        """Run ``work``; if the tables are gone (the state database was replaced), recreate them once."""
        try:
            return work()
        except DBAPIError:
            self._leases.clear()
            self._prepare()
            return work()

    def starts_in_window(self, name: str) -> int:
        """Starts the fleet has leased in ``name``'s current window (used or not yet)."""
        limit, key = self._limits[name], self._keys[name]
        with self._engine.connect() as conn:
            return int(self._used(conn, key, self._clock() - limit.window_seconds))

    # -- internals ---------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        """The hot path speaks the driver's SQL (qmark for SQLite, format for psycopg2): no compiling per call."""
        return text if self._is_sqlite else text.replace("?", "%s")

    def _used(self, conn: Connection, key: str, horizon: float) -> int:
        return conn.exec_driver_sql(
            self._sql(
                "SELECT coalesce(sum(starts), 0) FROM qbo_intacct_api_starts WHERE budget_key = ? AND started_at > ?"
            ),
            (key, horizon),
        ).scalar_one()

    def _renew(self, group: tuple[str, ...], old: _Lease | None) -> float:
        """Hand back what ``old`` did not use and take a new lease: 0.0, or the seconds until one may fit."""
        budgets = [(self._keys[name], self._limits[name]) for name in group]
        keys = sorted(key for key, _ in budgets)
        want = self._want.get(group, 1)
        if old is not None:
            used = old.granted - old.left
            want = min(MAX_LEASE_STARTS, max(1, 2 * used if old.left == 0 else used + 1))
        with self._locked(keys) as conn:
            if old is not None and old.left > 0:
                conn.exec_driver_sql(
                    self._sql("UPDATE qbo_intacct_api_starts SET starts = starts - ? WHERE lease = ?"),
                    (old.left, old.token),
                )
            self._leases.pop(group, None)
            now = self._clock()
            marks = ", ".join("?" for _ in keys)
            paused = conn.exec_driver_sql(
                self._sql(f"SELECT max(paused_until) FROM qbo_intacct_api_budgets WHERE budget_key IN ({marks})"),  # noqa: S608
                tuple(keys),
            ).scalar()
            if paused is not None and paused > now:
                return float(paused) - now
            wait, room, crowded = 0.0, want, False
            for key, limit in budgets:
                horizon = now - limit.window_seconds - (WINDOW_MARGIN_SECONDS if limit.window_seconds >= 10 else 0.0)
                free = limit.requests_per_minute - self._used(conn, key, horizon)
                if free < 1:
                    wait = max(wait, self._frees_in(conn, key, horizon))
                # A lease a worker stops using mid-way stays counted for a window, so no lease takes
                # more than an eighth of what is free: near the limit, leases are single starts.
                room = min(room, max(1, free // 8))
                crowded = crowded or 2 * (limit.requests_per_minute - free + want) > limit.requests_per_minute
            if wait > 0.0:
                return wait
            # A lease counts until a window after its end, so near the limit leases are short (a tenth
            # of the window: little is lost to them); with room to spare they may last half a window.
            # A single start is the caller's own, sent the moment this commits: it is recorded now, as
            # the per-process limiter always recorded a start, and is usable for a moment only.
            shortest = min(limit.window_seconds for _, limit in budgets)
            ttl = min(MAX_LEASE_SECONDS, shortest / 10 if crowded else shortest / 2)
            if room == 1:
                ttl = min(ttl, SINGLE_START_SECONDS)
            lease = _Lease(token=uuid.uuid4().hex, granted=room, left=room, ends=now + ttl)
            recorded = now if room == 1 else lease.ends
            conn.exec_driver_sql(
                self._sql(
                    "INSERT INTO qbo_intacct_api_starts (budget_key, started_at, starts, lease) VALUES (?, ?, ?, ?)"
                ),
                [(key, recorded, room, lease.token) for key in keys],
            )
            self._leases[group] = lease
            self._want[group] = want
            self.leases_taken += 1
            if self.leases_taken % 100 == 0:  # the windows have slid past these: keep the table small
                longest = max(limit.window_seconds for _, limit in budgets)
                conn.exec_driver_sql(
                    self._sql(f"DELETE FROM qbo_intacct_api_starts WHERE budget_key IN ({marks}) AND started_at <= ?"),  # noqa: S608
                    (*keys, now - longest),
                )
            return 0.0

    def _frees_in(self, conn: Connection, key: str, horizon: float) -> float:
        """Seconds until the oldest lease in ``key``'s window leaves it (then there may be room)."""
        oldest = conn.exec_driver_sql(
            self._sql("SELECT min(started_at) FROM qbo_intacct_api_starts WHERE budget_key = ? AND started_at > ?"),
            (key, horizon),
        ).scalar()
        return max(0.001, float(oldest) - horizon) if oldest is not None else 0.001

    @contextlib.contextmanager
    def _locked(self, keys: Sequence[str]) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if self._is_sqlite:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
            else:
                with conn.begin():
                    marks = ", ".join("%s" for _ in keys)
                    conn.exec_driver_sql(
                        f"SELECT budget_key FROM qbo_intacct_api_budgets WHERE budget_key IN ({marks}) "  # noqa: S608
                        "ORDER BY budget_key FOR UPDATE",
                        tuple(keys),
                    ).all()
                    yield conn


class FleetRateLimiter(RateLimiter):
    """This process's concurrency and windows (:class:`RateLimiter`), plus the same windows fleet-wide.

    A start waits for the process first, then for the fleet; a 429 pauses both. The process's own
    windows never block longer than the fleet's (its starts are a subset), so they cost nothing.
    """

    def __init__(self, limits: Sequence[RateLimit], shared: SharedBudget) -> None:
        super().__init__(limits)
        self.shared = shared

    def acquire(self, names: Sequence[str] | None = None) -> float:
        waited = super().acquire(names)
        try:
            return waited + self.shared.acquire(self._names(names))
        except BaseException:
            self.release(names)
            raise

    def penalise(self, seconds: float) -> None:
        super().penalise(seconds)
        self.shared.penalise(seconds)

    def starts_in_window(self, name: str | None = None) -> int:
        return self.shared.starts_in_window(self._names([name] if name else None)[0])
