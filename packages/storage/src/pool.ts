import pg from 'pg';

// Parse int8 (e.g. audit seq, counts) as JS numbers: every value we store fits in 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export type Pool = pg.Pool;
/** A connection taken from a pool (e.g. held for LISTEN). */
export type PoolClient = pg.PoolClient;
/** A pool or a checked-out client: anything that can run a query. */
export type Queryable = Pick<pg.Pool, 'query'>;

export interface PoolOptions {
  databaseUrl: string;
  max?: number;
  applicationName?: string;
  /** Called for errors on idle connections (e.g. the server restarted); they must not crash the process. */
  onIdleError?: (err: Error) => void;
  /**
   * PostgreSQL cancels a statement running longer than this (SQLSTATE 57014),
   * so a hung or overloaded server fails requests instead of stalling them.
   * Unset or 0: no limit. Long maintenance runs under withoutStatementTimeout.
   */
  statementTimeoutMs?: number;
  /** PostgreSQL ends a session left idle inside a transaction this long (its locks go). Unset or 0: no limit. */
  idleInTransactionTimeoutMs?: number;
  /**
   * Custom settings every connection starts with (`-c name=value` at connect), e.g. the ingest
   * instance that alert_ids.stored_by records (INGEST_INSTANCE_SETTING). Names are dotted
   * placeholders; values must be plain words (no spaces or backslashes).
   */
  sessionSettings?: Record<string, string>;
}

/** TCP keepalive probes start after this much idleness: a server that vanished is noticed. */
const KEEPALIVE_DELAY_MS = 10_000;

export function createPool(options: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'tripwire',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    // Sent as session settings at connect; 0 (PostgreSQL's own default) means no limit.
    statement_timeout: options.statementTimeoutMs || undefined,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs || undefined,
    options: sessionOptions(options.sessionSettings),
  });
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}

function sessionOptions(settings: Record<string, string> = {}): string | undefined {
  const parts = Object.entries(settings).map(([name, value]) => {
    if (!/^[a-z_]+\.[a-z_]+$/.test(name) || !/^[\w.:-]+$/.test(value))
      throw new Error(`session setting ${name}=${value}: not a plain placeholder setting`);
    return `-c ${name}=${value}`;
  });
  return parts.length ? parts.join(' ') : undefined;
}

/** True when PostgreSQL answers a trivial query. */
export async function pingDatabase(db: Queryable): Promise<boolean> {
  try {
    await db.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/** The database's clock, the one received_at is stamped with (a statement's start, not a transaction's). */
export async function databaseNow(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows[0]!.now;
}

/**
 * A connection taken from the pool for several statements. pg-pool takes its own 'error'
 * listener off a client it hands out, and a client whose connection drops (PostgreSQL restarted,
 * a network cut, pg_terminate_backend) emits 'error' even while none of its queries runs: between
 * a transaction's statements, while a cursor's reader is slow. With no listener that ends the
 * process. Here the statement under way, or the next one, fails with the loss instead; the
 * listener goes when the client is released (pg-pool discards a client that lost its connection).
 */
export async function checkOut(pool: Pool): Promise<PoolClient> {
  const client = await pool.connect();
  const reported = () => {};
  client.on('error', reported);
  const release = client.release;
  client.release = (err?: Error | boolean) => {
    client.removeListener('error', reported);
    release(err);
  };
  return client;
}

/** Runs fn inside BEGIN/COMMIT on one connection; rolls back if it throws. */
export async function withTransaction<T>(
  pool: Pool,
  fn: (db: Queryable) => Promise<T>,
): Promise<T> {
  const client = await checkOut(pool);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Runs fn in a transaction free of the pool's statement_timeout (SET LOCAL
 * ends with it): maintenance such as partition upkeep may rightly take longer
 * than any request should.
 */
export function withoutStatementTimeout<T>(
  pool: Pool,
  fn: (db: Queryable) => Promise<T>,
): Promise<T> {
  return withTransaction(pool, async (db) => {
    await db.query('SET LOCAL statement_timeout = 0');
    return fn(db);
  });
}
