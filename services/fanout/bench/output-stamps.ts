/**
 * Reading task-output-emitter.mjs's lines back: each starts with the wall-clock time it was
 * written. A chunk's latency is its receipt minus the stamp of the first whole line in it (the
 * oldest data it carries that it carries whole; a line cut at the chunk's start came with the
 * chunk before). Bytes and receipt times add up to the throughput.
 */
import { LatencyHistogram } from './latency-histogram.js';

const STAMP = /^(\d{13}\.\d{3}) \d+ /;

/** The write time (µs since the epoch) of the first whole line in `text`, or null. */
export function firstLineStampUs(text: string): number | null {
  const head = STAMP.exec(text) ?? STAMP.exec(text.slice(text.indexOf('\n') + 1));
  return head ? Number(head[1]) * 1000 : null;
}

/** Output as one receiver got it: chunks, bytes, latencies. */
export class OutputFlow {
  readonly latency = new LatencyHistogram();
  chunks = 0;
  bytes = 0;
  duplicates = 0;
  firstStampUs = Number.POSITIVE_INFINITY;
  lastReceiptUs = 0;
  maxLatencyUs = 0;
  private readonly keys = new Set<string>();

  /** One chunk received at `atUs`; `key` names it, to count repeats (which add no bytes). */
  add(text: string, bytes: number, atUs: number, key?: string): void {
    if (key !== undefined) {
      if (this.keys.has(key)) {
        this.duplicates++;
        return;
      }
      this.keys.add(key);
    }
    this.chunks++;
    this.bytes += bytes;
    this.lastReceiptUs = Math.max(this.lastReceiptUs, atUs);
    const stamp = firstLineStampUs(text);
    if (stamp === null) return;
    this.firstStampUs = Math.min(this.firstStampUs, stamp);
    const latencyUs = Math.max(0, atUs - stamp);
    this.maxLatencyUs = Math.max(this.maxLatencyUs, latencyUs);
    this.latency.record(latencyUs);
  }

  /** From the first line written to the last byte received. */
  get seconds(): number {
    return (this.lastReceiptUs - this.firstStampUs) / 1e6;
  }

  get bytesPerSecond(): number {
    return this.bytes / this.seconds;
  }
}
