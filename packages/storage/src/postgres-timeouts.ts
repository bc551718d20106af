import { type Pool, withTransaction } from './pool.js';

// SQLSTATEs of a statement that did not finish in time: query_canceled (statement_timeout,
// or a cancel request), lock_not_available (lock_timeout), and the session ended by
// idle_in_transaction_session_timeout.
const TIMEOUT_SQLSTATE: Record<string, string> = {
  '57014': 'statement timeout (57014)',
  '55P03': 'lock timeout (55P03)',
  '25P03': 'idle-in-transaction timeout (25P03)',
};
// node-postgres's own: a pool checkout that waited connectionTimeoutMillis, a connect that did.
const TIMEOUT_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated due to connection timeout/i;

/**
 * How a failure was PostgreSQL not answering in time ("statement timeout (57014)", "pool
 * checkout timeout"), or undefined for any other failure (a refused connection, bad SQL).
 */
export function postgresTimeout(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TIMEOUT_SQLSTATE[code]) return TIMEOUT_SQLSTATE[code];
  if (TIMEOUT_MESSAGE.test(err.message)) return `pool checkout timeout (${err.message})`;
  return undefined;
}

// The tables an alert flush (ingest_alerts) writes, and the one the REST API reads most.
const ALERT_WRITE_TABLES = 'alert_ids, alerts, incidents';

/**
 * True when alerts could be written now: takes, within `timeoutMs`, the lock every INSERT
 * of a flush takes (ROW EXCLUSIVE on the tables it writes), and rolls back. A table locked
 * by someone else (DDL, LOCK TABLE, a stuck migration), an exhausted pool or a server that
 * stopped answering all make it false; a plain `SELECT 1` would still pass for the first.
 */
export function alertWritesAnswer(pool: Pool, timeoutMs: number): Promise<boolean> {
  return lockProbe(pool, `LOCK TABLE ${ALERT_WRITE_TABLES} IN ROW EXCLUSIVE MODE`, timeoutMs);
}

/** True when alerts could be read now (ACCESS SHARE on `alerts`, what every SELECT takes) within `timeoutMs`. */
export function alertReadsAnswer(pool: Pool, timeoutMs: number): Promise<boolean> {
  return lockProbe(pool, 'LOCK TABLE alerts IN ACCESS SHARE MODE', timeoutMs);
}

async function lockProbe(pool: Pool, lockSql: string, timeoutMs: number): Promise<boolean> {
  const ms = Math.max(1, Math.floor(timeoutMs));
  let timer: NodeJS.Timeout | undefined;
  // The pool's checkout wait is not bounded by statement_timeout: the timer bounds it.
  const silence = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  const attempt = withTransaction(pool, async (db) => {
    await db.query(`SET LOCAL statement_timeout = ${ms}`);
    await db.query(lockSql);
  }).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([attempt, silence]);
  } finally {
    clearTimeout(timer);
  }
}
