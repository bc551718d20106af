// The command the task benchmark runs on its agents (shell_execute, allow-listed):
//   node task-output-emitter.mjs <bytes> <bytes per second, 0 = as fast as the pipe takes them>
// It writes <bytes> of 256-byte lines to stdout, each starting with the wall-clock time it was
// written (ms since the epoch, µs resolution: comparable across processes on one machine), so
// whoever receives a line knows how long it took to get there. Lines go out in blocks of 64
// (16 KiB, one write, one timestamp); at full speed the next block waits for the pipe to drain,
// paced it waits for its turn.
const LINE_BYTES = 256;
const LINES_PER_BLOCK = 64;
const BLOCK_BYTES = LINE_BYTES * LINES_PER_BLOCK;

const total = Number(process.argv[2]);
const rate = Number(process.argv[3] ?? 0);
if (!Number.isSafeInteger(total) || total <= 0 || !Number.isFinite(rate) || rate < 0) {
  process.stderr.write('usage: task-output-emitter.mjs <bytes> <bytes per second | 0>\n');
  process.exit(2);
}

const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const filler = 'x'.repeat(LINE_BYTES);

/** One block of lines stamped `at`, `bytes` long (the last block may be short). */
function block(at, firstLine, bytes) {
  const stamp = at.toFixed(3);
  let text = '';
  for (let line = firstLine; text.length < bytes; line++) {
    const head = `${stamp} ${line} `;
    text += `${head}${filler.slice(0, LINE_BYTES - head.length - 1)}\n`;
  }
  return text.slice(0, bytes);
}

const started = wallMs();
let written = 0;
let line = 0;
while (written < total) {
  const bytes = Math.min(BLOCK_BYTES, total - written);
  if (rate > 0) {
    const due = started + (written / rate) * 1000;
    if (due > wallMs()) await sleep(due - wallMs());
  }
  const ok = process.stdout.write(block(wallMs(), line, bytes));
  written += bytes;
  line += LINES_PER_BLOCK;
  if (!ok) await new Promise((resolve) => process.stdout.once('drain', resolve));
}
