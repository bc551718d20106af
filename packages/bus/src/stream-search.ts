import type { Redis } from 'ioredis';
import {
  alertIdOf,
  EPOCH_FIELD,
  MESSAGE_FIELD,
  MESSAGE_SEPARATOR,
  streamCounterKey,
  streamKey,
} from './bus-message.js';

/** Where an alert is in the stream: its position's epoch and offset. */
export interface AlertLocation {
  epoch: string;
  offset: bigint;
}

/** What the stream says about some alerts: where it holds them, and its current epoch. */
export interface StreamSearch {
  found: Map<string, AlertLocation>;
  /** The stream's epoch now (null: no counter yet), and when Redis started it (ms). */
  epoch: string | null;
  epochStartedMs: number | null;
}

/** The characters of an epoch after its base36 start time (bus-publisher.ts: epochNonce). */
const EPOCH_NONCE_LENGTH = 4;

/** When an epoch began, by the Redis clock (its name is that time in base36, then a nonce). */
export function epochStartedMs(epoch: string): number | null {
  const ms = Number.parseInt(epoch.slice(0, -EPOCH_NONCE_LENGTH), 36);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** Entries read per XRANGE. */
const PAGE_ENTRIES = 100;

/**
 * Finds these alerts in the event stream, reading the entries Redis appended at or after
 * `fromMs` (its clock), at most `maxEntries` of them (each holds up to 500 messages): the
 * republish sweep asks before publishing again what an instance that died may have appended
 * after all (a chunk it had sent to a Redis that was hung, run when Redis woke up). Ids not
 * found are not in what was read (never appended, trimmed, or lost with Redis's data: the
 * current epoch says since when the stream holds anything).
 */
export async function locateAlerts(
  redis: Redis,
  keyPrefix: string,
  fromMs: number,
  alertIds: ReadonlySet<string>,
  maxEntries = 20_000,
): Promise<StreamSearch> {
  const epoch = (await redis.hget(streamCounterKey(keyPrefix), 'epoch')) ?? null;
  const found = new Map<string, AlertLocation>();
  const key = streamKey(keyPrefix);
  let start = `${Math.max(0, Math.floor(fromMs))}-0`;
  let read = 0;
  while (read < maxEntries && found.size < alertIds.size) {
    const entries = (await redis.xrange(key, start, '+', 'COUNT', PAGE_ENTRIES)) as Array<
      [string, string[]]
    >;
    for (const [id, fields] of entries) locateIn(id, fields, alertIds, found);
    read += entries.length;
    if (entries.length < PAGE_ENTRIES) break;
    start = `(${entries.at(-1)![0]}`;
  }
  return { found, epoch, epochStartedMs: epoch === null ? null : epochStartedMs(epoch) };
}

/** The alerts of one entry among `alertIds`: its ID is "<ms>-<last>", message i at first + i. */
function locateIn(
  id: string,
  fields: string[],
  alertIds: ReadonlySet<string>,
  found: Map<string, AlertLocation>,
): void {
  const field = (name: string) => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
    return undefined;
  };
  const epoch = field(EPOCH_FIELD);
  const body = field(MESSAGE_FIELD);
  if (epoch === undefined || body === undefined) return;
  const messages = body.split(MESSAGE_SEPARATOR);
  const first = BigInt(id.slice(id.indexOf('-') + 1)) - BigInt(messages.length) + 1n;
  messages.forEach((message, i) => {
    const alertId = alertIdOf(message);
    if (alertId !== null && alertIds.has(alertId) && !found.has(alertId))
      found.set(alertId, { epoch, offset: first + BigInt(i) });
  });
}
