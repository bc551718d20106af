// What an agent process has generated, in a file beside its state folder that survives its
// kill -9: "I <from> <to>" before it enqueues alerts from..to, "D <to>" once every one of them
// is in the outbox and fsynced (enqueue resolved). An alert counts as generated only after its
// "D": one between an "I" and a missing "D" may or may not have reached the outbox.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export interface AgentProgress {
  /** The next sequence number to generate. */
  nextSeq: number;
  /** Sequence numbers whose enqueue resolved (durable in the outbox). */
  durable: Array<[from: number, to: number]>;
  /** Ranges begun but not confirmed (the process died in between). */
  uncertain: Array<[from: number, to: number]>;
}

export function readProgress(path: string): AgentProgress {
  const progress: AgentProgress = { nextSeq: 0, durable: [], uncertain: [] };
  if (!existsSync(path)) return progress;
  let open: [number, number] | null = null;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [kind, a, b] = line.split(' ');
    if (kind === 'I' && a !== undefined && b !== undefined) {
      if (open) progress.uncertain.push(open);
      open = [Number(a), Number(b)];
      progress.nextSeq = Number(b) + 1;
    } else if (kind === 'D' && open && Number(a) === open[1]) {
      progress.durable.push(open);
      open = null;
    }
  }
  if (open) progress.uncertain.push(open);
  return progress;
}

export const recordIntent = (path: string, from: number, to: number) =>
  appendFileSync(path, `I ${from} ${to}\n`);

export const recordDurable = (path: string, to: number) => appendFileSync(path, `D ${to}\n`);

export const countOf = (ranges: Array<[number, number]>) =>
  ranges.reduce((n, [from, to]) => n + to - from + 1, 0);
