// A position is "<epoch>:<ms>-<offset>": the Redis stream ID "<ms>-<offset>" of one message,
// qualified by the stream's epoch. The publisher's script makes both parts of the ID increase
// and makes offsets contiguous (1, 2, 3, ...) across every publisher, so a reader that sees
// offset n+2 right after n knows that one entry is gone (trimmed) rather than guessing.
//
// Offsets only mean something within one epoch. The script starts a new epoch whenever the
// counter is created (Redis lost its data) or the server it runs on is no longer the one that
// wrote it (a failover to a replica, which may reuse offsets the old primary handed out). So a
// position from another epoch is never compared by offset: the reader was reset.
//
// The bare "<ms>-<offset>" of earlier releases is still accepted: its epoch is unknown (null),
// which readers treat as "cannot be trusted for an exact resume" or as a point in time.

/** Epochs are base36 (Redis time in ms, then random characters): [0-9a-z], at most 16. */
const EPOCH = '[0-9a-z]{1,16}';
const POSITION = new RegExp(`^(?:(${EPOCH}):)?(\\d{1,20})-(\\d{1,20})$`);

export interface ParsedPosition {
  /** null: a position without an epoch (from an earlier release, or a point in time such as "<ms>-0"). */
  epoch: string | null;
  ms: bigint;
  offset: bigint;
}

export function isPosition(value: string): boolean {
  return POSITION.test(value);
}

export function parsePosition(value: string): ParsedPosition {
  const m = POSITION.exec(value);
  if (!m) {
    throw new Error(`"${value}" is not a stream position (expected "<epoch>:<ms>-<offset>")`);
  }
  return { epoch: m[1] ?? null, ms: BigInt(m[2]!), offset: BigInt(m[3]!) };
}

/** The public position of a message: its epoch (if known) and its stream ID. */
export function formatPosition(epoch: string | null, streamId: string): string {
  return epoch === null ? streamId : `${epoch}:${streamId}`;
}

/** The Redis stream ID "<ms>-<offset>" inside a position. */
export function streamIdOf(position: string): string {
  const { ms, offset } = parsePosition(position);
  return `${ms}-${offset}`;
}

/**
 * Negative when a is before b, 0 when equal, positive when after, by stream ID only: meaningful
 * within one epoch (or one Redis stream), which the caller checks.
 */
export function comparePositions(a: string, b: string): number {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  if (pa.ms !== pb.ms) return pa.ms < pb.ms ? -1 : 1;
  return pa.offset === pb.offset ? 0 : pa.offset < pb.offset ? -1 : 1;
}

/**
 * Whether `next` directly follows `previous`: the next offset, and not from another epoch (an
 * unknown epoch, null, is taken as the same). An offset that does not move forward is a break.
 */
export function followsDirectly(previous: string, next: string): boolean {
  const p = parsePosition(previous);
  const n = parsePosition(next);
  if (p.epoch !== null && n.epoch !== null && p.epoch !== n.epoch) return false;
  return n.offset === p.offset + 1n;
}

/**
 * Where one append put its messages (the append script's reply: the entry's stream ID
 * "<ms>-<last offset>" and the epoch): an entry holding n messages gives message i (0-based)
 * the offset last - n + 1 + i, as readers number them.
 */
export interface AppendedAt {
  epoch: string;
  ms: bigint;
  /** The first message's offset; message i is at firstOffset + i. */
  firstOffset: bigint;
}

export function appendedAt(epoch: string, entryId: string, count: number): AppendedAt {
  const { ms, offset } = parsePosition(entryId);
  return { epoch, ms, firstOffset: offset - BigInt(count) + 1n };
}
