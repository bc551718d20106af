// The outbox file format: an 8-byte header, then records of
//   u32 BE payload length | u32 BE CRC-32 of the payload | payload
// where the payload is one kind byte followed by UTF-8 JSON. A record is
// valid only if it is complete and its CRC matches, so a write torn by a
// crash is recognised and cut off on open.
import type { FileHandle } from 'node:fs/promises';
import * as zlib from 'node:zlib';
import type { SeverityName, TripwireTypeName } from './agent-types.js';

export const OUTBOX_MAGIC = Buffer.from('TWOUTBX1');
export const RECORD_HEADER_BYTES = 8;
/** Larger lengths can only be garbage: no alert record comes near this. */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;

const KIND_ALERT = 1;
const KIND_DONE = 2;

/** An alert as the outbox keeps it; host_id is added when it is sent. */
export interface OutboxAlert {
  alertId: string;
  tripwireType: TripwireTypeName;
  severity: SeverityName;
  ruleName: string;
  /** When the sensor saw it, in Unix microseconds. */
  timestampUs: number;
  detailJson: string;
}

export type OutboxRecord =
  | { kind: 'alert'; alert: OutboxAlert }
  /** These alerts left the outbox (acknowledged, rejected or dropped). */
  | { kind: 'done'; alertIds: string[] };

// zlib.crc32 arrived in Node 20.15; the table version keeps older 20.x working.
const crc32: (data: Uint8Array) => number =
  typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc32;

let table: Uint32Array | undefined;
function tableCrc32(data: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function encodeRecord(record: OutboxRecord): Buffer {
  const body =
    record.kind === 'alert'
      ? {
          id: record.alert.alertId,
          type: record.alert.tripwireType,
          severity: record.alert.severity,
          rule: record.alert.ruleName,
          ts: record.alert.timestampUs,
          detail: record.alert.detailJson,
        }
      : { ids: record.alertIds };
  const json = Buffer.from(JSON.stringify(body));
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 1 + json.length);
  out[RECORD_HEADER_BYTES] = record.kind === 'alert' ? KIND_ALERT : KIND_DONE;
  json.copy(out, RECORD_HEADER_BYTES + 1);
  const payload = out.subarray(RECORD_HEADER_BYTES);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  return out;
}

function decodePayload(payload: Buffer): OutboxRecord {
  const body = JSON.parse(payload.subarray(1).toString('utf8'));
  if (payload[0] === KIND_DONE && Array.isArray(body.ids))
    return { kind: 'done', alertIds: body.ids };
  if (payload[0] === KIND_ALERT && typeof body.id === 'string') {
    return {
      kind: 'alert',
      alert: {
        alertId: body.id,
        tripwireType: body.type,
        severity: body.severity,
        ruleName: body.rule,
        timestampUs: body.ts,
        detailJson: body.detail,
      },
    };
  }
  throw new Error(`unknown record kind ${payload[0]}`);
}

export interface ScannedRecord {
  record: OutboxRecord;
  /** Bytes on disk, header included. */
  size: number;
}

export interface ScanResult {
  /** Offset just past the last valid record: everything after it is torn or garbage. */
  validEnd: number;
  fileSize: number;
  /** Complete, CRC-valid records this version cannot read (skipped, not cut off). */
  unreadable: number;
}

/**
 * Reads the records after the header in order, calling onRecord for each, and
 * stops at the first incomplete or corrupt one. Reads in chunks so a large
 * outbox is never held in memory twice.
 */
export async function scanRecords(
  file: FileHandle,
  onRecord: (scanned: ScannedRecord) => void,
): Promise<ScanResult> {
  const fileSize = (await file.stat()).size;
  let offset = OUTBOX_MAGIC.length;
  let pending = Buffer.alloc(0);
  let readPos = offset;
  let unreadable = 0;
  const CHUNK = 1024 * 1024;
  for (;;) {
    // Enough bytes for the next header and payload, or the end of the file?
    let need = RECORD_HEADER_BYTES;
    if (pending.length >= RECORD_HEADER_BYTES) {
      const length = pending.readUInt32BE(0);
      if (length < 1 || length > MAX_RECORD_BYTES) break;
      need = RECORD_HEADER_BYTES + length;
    }
    if (pending.length < need) {
      if (readPos >= fileSize) break;
      const chunk = Buffer.allocUnsafe(Math.max(CHUNK, need - pending.length));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, readPos);
      if (bytesRead === 0) break;
      readPos += bytesRead;
      pending = Buffer.concat([pending, chunk.subarray(0, bytesRead)]);
      continue;
    }
    const payload = pending.subarray(RECORD_HEADER_BYTES, need);
    if (crc32(payload) !== pending.readUInt32BE(4)) break;
    let record: OutboxRecord | undefined;
    try {
      record = decodePayload(payload);
    } catch {
      unreadable++;
    }
    if (record) onRecord({ record, size: need });
    offset += need;
    pending = pending.subarray(need);
  }
  return { validEnd: offset, fileSize, unreadable };
}
