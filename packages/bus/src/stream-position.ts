// A position is the Redis stream ID "<ms>-<offset>". The publisher's script
// makes both parts increase, and makes offsets contiguous (1, 2, 3, ...) across
// every publisher, so a reader that sees offset n+2 right after n knows that
// one entry is gone (trimmed, or lost with a Redis restart) rather than guessing.

const POSITION = /^(\d{1,20})-(\d{1,20})$/;

export interface ParsedPosition {
  ms: bigint;
  offset: bigint;
}

export function isPosition(value: string): boolean {
  return POSITION.test(value);
}

export function parsePosition(value: string): ParsedPosition {
  const m = POSITION.exec(value);
  if (!m) throw new Error(`"${value}" is not a stream position (expected "<ms>-<offset>")`);
  return { ms: BigInt(m[1]!), offset: BigInt(m[2]!) };
}

/** Negative when a is before b, 0 when equal, positive when after. */
export function comparePositions(a: string, b: string): number {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  if (pa.ms !== pb.ms) return pa.ms < pb.ms ? -1 : 1;
  return pa.offset === pb.offset ? 0 : pa.offset < pb.offset ? -1 : 1;
}

/**
 * Whether `next` directly follows `previous`. A reset counter (Redis lost its
 * data) shows as an offset that does not move forward, and counts as a break.
 */
export function followsDirectly(previous: string, next: string): boolean {
  return parsePosition(next).offset === parsePosition(previous).offset + 1n;
}
