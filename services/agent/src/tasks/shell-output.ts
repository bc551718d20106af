import { StringDecoder } from 'node:string_decoder';
import type { TaskPayload } from '@tripwire/agent-sdk';
import type { OutputBudget } from './output-budget.js';

/** Output waits at most this long, or until this many bytes, to share a response. */
const FLUSH_MS = 50;
const FLUSH_BYTES = 32 * 1024;

type StreamName = 'stdout' | 'stderr';

/**
 * A process's stdout and stderr as incremental ShellExecuteResponse chunks: UTF-8 decoded per
 * stream (a character split between reads is kept for the next chunk, invalid bytes become
 * U+FFFD), cut at the task's output budget, and coalesced so a chatty process does not send a
 * message per write.
 */
export class ShellOutput {
  private readonly decoders = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  private pending = { stdout: '', stderr: '' };
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly budget: OutputBudget,
    private readonly emit: (payload: TaskPayload) => void,
  ) {}

  push(stream: StreamName, chunk: Buffer): void {
    const allowed = this.budget.take(chunk.length);
    if (allowed === 0) return;
    this.add(stream, this.decoders[stream].write(chunk.subarray(0, allowed)), allowed);
  }

  /** Everything left, decoders included, goes out now. */
  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.decoders[stream].end();
      if (rest) this.add(stream, rest, 0);
    }
    this.flush();
  }

  private add(stream: StreamName, text: string, bytes: number): void {
    if (!text) return;
    this.pending[stream] += text;
    this.pendingBytes += bytes;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const { stdout, stderr } = this.pending;
    if (!stdout && !stderr) return;
    this.pending = { stdout: '', stderr: '' };
    this.pendingBytes = 0;
    this.emit({ $case: 'shellExecute', shellExecute: { stdout, stderr, exitCode: 0, signal: '' } });
  }
}
