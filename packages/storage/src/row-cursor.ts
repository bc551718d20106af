import Cursor from 'pg-cursor';
import { checkOut, type Pool } from './pool.js';

export interface RowCursorOptions {
  /** Rows fetched per round trip: the most held in memory at once. */
  batchSize?: number;
  /**
   * The longest the whole read may take (SET LOCAL statement_timeout: PostgreSQL times a
   * suspended cursor's statement from its first fetch, so the pool's short request timeout
   * would cut any large export). 0: no limit.
   */
  timeoutMs: number;
}

/**
 * Reads a query's rows in batches from a server-side cursor (pg-cursor: one portal, fetched
 * `batchSize` rows at a time), in a READ ONLY transaction: one consistent snapshot however
 * long the read takes. The caller pulls the next batch when it has sent the last one, so a
 * slow reader slows the fetches and memory stays at one batch. The connection is held until
 * the generator ends; ending it early (`return()`, which `for await … break` and a destroyed
 * stream call) closes the cursor and gives the connection back. A connection that failed
 * mid-read is destroyed rather than returned.
 */
export async function* streamRows<R>(
  pool: Pool,
  text: string,
  values: unknown[],
  { batchSize = 1000, timeoutMs }: RowCursorOptions,
): AsyncGenerator<R[], void, undefined> {
  const client = await checkOut(pool);
  let failure: Error | undefined;
  let cursor: Cursor<R> | undefined;
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${Math.max(0, Math.floor(timeoutMs))}`);
    cursor = client.query(new Cursor<R>(text, values));
    for (;;) {
      const rows = await cursor.read(batchSize);
      if (rows.length === 0) break;
      yield rows;
      if (rows.length < batchSize) break;
    }
  } catch (err) {
    failure = err as Error;
    throw err;
  } finally {
    if (!failure) {
      await cursor?.close().catch((err: Error) => {
        failure = err;
      });
      await client.query('ROLLBACK').catch((err: Error) => {
        failure = err;
      });
    }
    client.release(failure);
  }
}

/** Each batch of `batches` mapped row by row; ending it early ends `batches` too. */
export async function* mapBatches<R, T>(
  batches: AsyncGenerator<R[], void, undefined>,
  map: (row: R) => T,
): AsyncGenerator<T[], void, undefined> {
  for await (const batch of batches) yield batch.map(map);
}
