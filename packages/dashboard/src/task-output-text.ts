// A task's output as the detail panel shows it: text only (rendered as text nodes, never as
// HTML), ANSI escape sequences stripped (a colour code is noise, and an OSC or cursor
// sequence could make the panel lie about what ran), other control characters made visible.
import type { TaskOutputJson, TaskOutputStream } from './task-types.js';

// CSI (colours, cursor moves), OSC (titles, hyperlinks; ended by BEL or ST), and any other
// two-byte ESC sequence.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

export function plainText(text: string): string {
  return text
    .replace(ANSI, '')
    .replace(/\r\n/g, '\n')
    .replace(CONTROL, (c) =>
      c === '\r' ? '\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    );
}

export interface OutputRun {
  stream: TaskOutputStream;
  text: string;
}

/**
 * Consecutive chunks of one stream joined, so the panel renders a handful of spans however many
 * chunks came. Listing pages (process_list, network_connections) are JSON text, one per line;
 * file content is never shown (downloaded instead).
 */
export function outputRuns(chunks: TaskOutputJson[]): OutputRun[] {
  const runs: OutputRun[] = [];
  for (const c of chunks) {
    const text = chunkText(c);
    if (!text) continue;
    const last = runs[runs.length - 1];
    if (last && last.stream === c.stream) last.text += text;
    else runs.push({ stream: c.stream, text });
  }
  return runs;
}

function chunkText(c: TaskOutputJson): string {
  if (typeof c.text === 'string') return plainText(c.stream === 'listing' ? `${c.text}\n` : c.text);
  return c.stream === 'file'
    ? `[${c.bytes} bytes of file content at ${c.offset}: download them]\n`
    : '';
}
