import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type ExportFormat, type ExportRecord, encodeRecords } from './export-format.js';

export interface ExportOutcome {
  rows: number;
  /** Every row was read and handed on; false when the client went away or a read failed. */
  completed: boolean;
}

/**
 * Takes the first batch before anything is answered: a database that is down, or a statement
 * that fails at once, is then an error answer (503), not a broken download. Ends `batches`
 * (closing its cursor, releasing its connection) if the first read throws.
 */
export async function firstBatch<T>(
  batches: AsyncGenerator<T[], void, undefined>,
): Promise<IteratorResult<T[], void>> {
  try {
    return await batches.next();
  } catch (err) {
    await batches.return().catch(() => {});
    throw err;
  }
}

export interface ExportBody<T> {
  format: ExportFormat;
  columns: readonly string[];
  toRecord: (item: T) => ExportRecord;
  gzip: boolean;
  /** Called once, when the stream ends for whatever reason (the audit entry, metrics). */
  onEnd: (outcome: ExportOutcome) => void;
}

/**
 * The response body of an export: each batch encoded as one chunk (gzip-compressed when the
 * client asked), pulled one at a time, so the HTTP layer's backpressure (response-stream.ts)
 * paces the cursor reads and memory holds about one batch. Ending the body early (the client
 * went away) ends `batches`, which closes the cursor and releases its connection.
 */
export function exportBody<T>(
  first: IteratorResult<T[], void>,
  batches: AsyncGenerator<T[], void, undefined>,
  body: ExportBody<T>,
): AsyncIterable<Uint8Array> {
  const encoded = encodeBatches(first, batches, body);
  if (!body.gzip) return encoded;
  const gzip = createGzip();
  // pipeline: a gzip stream destroyed by its reader destroys the source too (and the other way).
  pipeline(Readable.from(encoded), gzip).catch(() => {});
  return gzip;
}

async function* encodeBatches<T>(
  first: IteratorResult<T[], void>,
  batches: AsyncGenerator<T[], void, undefined>,
  { format, columns, toRecord, onEnd }: ExportBody<T>,
): AsyncGenerator<Buffer, void, undefined> {
  const outcome: ExportOutcome = { rows: 0, completed: false };
  let next = first;
  try {
    while (!next.done) {
      const records = next.value.map(toRecord);
      const text = encodeRecords(format, columns, records, outcome.rows === 0);
      outcome.rows += records.length;
      yield Buffer.from(text);
      next = await batches.next();
    }
    // An export with no rows still has its CSV header line.
    if (outcome.rows === 0 && format === 'csv') yield Buffer.from(`${columns.join(',')}\n`);
    outcome.completed = true;
  } finally {
    await batches.return();
    onEnd(outcome);
  }
}
