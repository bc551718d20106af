/**
 * Reading the fan-out benchmark's frames cheaply, straight from the bytes ws
 * hands over: no toString, no JSON.parse on the hot path. Frames start with
 * {"type":"<name>", so byte 9 is the type's first letter, and every benchmark
 * alert carries its publish time as event_detail.sent_at_us.
 */
const TYPE_AT = 9;
const SENT_AT = Buffer.from('"sent_at_us":');
const [A, L, W, E] = ['a', 'l', 'w', 'e'].map((c) => c.charCodeAt(0)) as [
  number,
  number,
  number,
  number,
];
const [DIGIT_0, DIGIT_9] = [48, 57];

/** Microseconds since the epoch, comparable across processes on one machine. */
export const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

export const isAlertFrame = (frame: Buffer) => frame[TYPE_AT] === A && frame[TYPE_AT + 1] === L;
export const isWelcomeFrame = (frame: Buffer) => frame[TYPE_AT] === W;
export const isErrorFrame = (frame: Buffer) => frame[TYPE_AT] === E;

/** The alert's publish time (µs since the epoch), or -1 when it carries none. */
export function sentAtUs(frame: Buffer): number {
  const at = frame.lastIndexOf(SENT_AT);
  if (at < 0) return -1;
  let value = 0;
  for (let i = at + SENT_AT.length; i < frame.length; i++) {
    const c = frame[i]!;
    if (c < DIGIT_0 || c > DIGIT_9) break;
    value = value * 10 + (c - DIGIT_0);
  }
  return value;
}
