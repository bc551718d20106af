/**
 * Latency histogram for the fan-out benchmark: 10 µs buckets up to 1 s, then
 * 1 ms buckets up to 120 s (the last bucket also holds everything slower).
 * Recording a sample is one array increment, so a client process can record
 * every frame it receives instead of a subsample; workers ship the non-empty
 * buckets to the parent, which merges them and reads percentiles.
 */
const FINE_US = 10;
const FINE_BUCKETS = 100_000; // 10 µs each: up to 1 s
const COARSE_US = 1_000;
const COARSE_BUCKETS = 119_000; // 1 ms each: 1 s to 120 s
const FINE_LIMIT_US = FINE_US * FINE_BUCKETS;

/** Non-empty buckets as [index, count] pairs: what a worker sends over IPC. */
export type SparseHistogram = Array<[bucket: number, count: number]>;

/** The upper edge of a bucket, in µs. */
const bucketEdgeUs = (i: number) =>
  i < FINE_BUCKETS ? (i + 1) * FINE_US : FINE_LIMIT_US + (i - FINE_BUCKETS + 1) * COARSE_US;

export class LatencyHistogram {
  private readonly counts = new Uint32Array(FINE_BUCKETS + COARSE_BUCKETS);
  total = 0;

  record(latencyUs: number): void {
    const bucket =
      latencyUs < FINE_LIMIT_US
        ? Math.max(0, Math.floor(latencyUs / FINE_US))
        : Math.min(
            FINE_BUCKETS + COARSE_BUCKETS - 1,
            FINE_BUCKETS + Math.floor((latencyUs - FINE_LIMIT_US) / COARSE_US),
          );
    this.counts[bucket]!++;
    this.total++;
  }

  toSparse(): SparseHistogram {
    const out: SparseHistogram = [];
    this.counts.forEach((count, i) => {
      if (count) out.push([i, count]);
    });
    return out;
  }

  merge(sparse: SparseHistogram): void {
    for (const [bucket, count] of sparse) {
      this.counts[bucket]! += count;
      this.total += count;
    }
  }

  /**
   * The p-th percentile in milliseconds (upper edge of its bucket), out of
   * `population` samples: those never recorded (frames that never arrived)
   * count as slower than any recorded one, so the answer is Infinity when the
   * percentile falls among them.
   */
  percentileMs(p: number, population = this.total): number {
    if (population === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * population));
    if (rank > this.total) return Number.POSITIVE_INFINITY;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return bucketEdgeUs(i) / 1000;
    }
    return bucketEdgeUs(this.counts.length - 1) / 1000;
  }
}
