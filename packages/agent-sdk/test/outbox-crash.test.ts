// kill -9 a process that appends to the outbox as fast as it can, at a random
// moment, and check that the outbox reopens with every append that had
// resolved. The child runs the real outbox code on plain Node: the sources are
// transpiled with the TypeScript compiler into a scratch folder first.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../src/index.js';

const SOURCES = [
  'outbox.ts',
  'outbox-records.ts',
  'atomic-file.ts',
  'lock-file.ts',
  'legacy-lock-file.ts',
];
let dir: string;

// Appends batches of concurrent alerts; prints each id once its append resolved
// (stdout to a pipe is synchronous on Linux, so a printed line is never lost),
// and completes half of each batch so "done" records and compactions are in play.
const CHILD = `
import { randomUUID } from 'node:crypto';
import { Outbox } from './outbox.js';
const outbox = await Outbox.open({ path: process.argv[2], compactMinBytes: 32 * 1024 });
process.stdout.write('ready\\n');
for (let round = 0; ; round++) {
  const batch = Array.from({ length: 1 + (round % 40) }, (_, i) => ({
    alertId: randomUUID(),
    tripwireType: 'FILE',
    severity: 'CRITICAL',
    ruleName: 'crash-test',
    timestampUs: Date.now() * 1000,
    detailJson: JSON.stringify({ round, i, pad: 'p'.repeat((round * 37 + i * 101) % 3000) }),
  }));
  process.stdout.write('appending ' + batch.map((a) => a.alertId).join(' ') + '\\n');
  await Promise.all(batch.map(async (a) => {
    await outbox.append(a);
    process.stdout.write('appended ' + a.alertId + '\\n');
  }));
  const done = batch.filter((_, i) => i % 2 === 0).map((a) => a.alertId);
  process.stdout.write('completing ' + done.join(' ') + '\\n');
  outbox.complete(done);
}
`;

async function transpile(src: URL, files: string[], to: string) {
  for (const file of files) {
    const { outputText } = ts.transpileModule(await readFile(new URL(file, src), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    await writeFile(join(to, file.replace(/\.ts$/, '.js')), outputText);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tripwire-outbox-crash-'));
  await transpile(new URL('../src/', import.meta.url), SOURCES, dir);
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  // The outbox's one workspace import, @tripwire/wire (dependency-free), transpiled beside it.
  const wireSrc = new URL('../node_modules/@tripwire/wire/src/', import.meta.url);
  const wire = join(dir, 'node_modules', '@tripwire', 'wire');
  await mkdir(wire, { recursive: true });
  const wireFiles = (await readdir(wireSrc)).filter((f) => !f.endsWith('.test.ts'));
  await transpile(wireSrc, wireFiles, wire);
  await writeFile(join(wire, 'package.json'), '{"type":"module","exports":"./index.js"}');
  // The lock's one registry dependency, linked as installed (its own dependencies resolve from there).
  await symlink(
    fileURLToPath(new URL('../node_modules/proper-lockfile', import.meta.url)),
    join(dir, 'node_modules', 'proper-lockfile'),
  );
  await writeFile(join(dir, 'child.js'), CHILD);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function runAndKill(outboxPath: string, afterMs: number) {
  const child: ChildProcess = spawn(process.execPath, [join(dir, 'child.js'), outboxPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk) => {
    out += chunk;
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  // Once some append has resolved (however loaded the machine), then at a random moment.
  while (!out.includes('\nappended ')) {
    if (child.exitCode !== null) throw new Error(`child exited early:\n${out}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, afterMs));
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const attempted = new Set<string>();
  const appended = new Set<string>();
  const completing = new Set<string>();
  for (const line of out.split('\n')) {
    const [word, ...rest] = line.split(' ');
    if (word === 'appending') for (const id of rest) attempted.add(id);
    if (word === 'appended') appended.add(rest[0]!);
    if (word === 'completing') for (const id of rest) completing.add(id);
  }
  return { attempted, appended, completing };
}

describe('outbox under kill -9', () => {
  it('reopens consistently with every resolved append, however the process died', async () => {
    const path = join(dir, 'outbox.log');
    const everAttempted = new Set<string>();
    const mustHave = new Set<string>();
    for (let run = 0; run < 6; run++) {
      const { attempted, appended, completing } = await runAndKill(path, Math.random() * 600);
      expect(appended.size).toBeGreaterThan(0);
      for (const id of attempted) everAttempted.add(id);
      for (const id of appended) if (!completing.has(id)) mustHave.add(id);
      // Whether a completion reached the disk before the kill is open; an append that resolved is not.
      for (const id of completing) mustHave.delete(id);

      // The killed child's lock is fresh: taken over once not refreshed for 2 s.
      const outbox = await Outbox.open({ path, lockStaleMs: 2_000 });
      const held = new Set(outbox.alerts().map((a) => a.alertId));
      const missing = [...mustHave].filter((id) => !held.has(id));
      expect(missing).toEqual([]);
      // Nothing invented or garbled: every alert held is one some run tried to append.
      expect([...held].filter((id) => !everAttempted.has(id))).toEqual([]);
      await outbox.close();
    }
    // The compaction scratch file of an interrupted compaction never outlives an open.
    const leftovers = (await readdir(dir)).filter((f) => f.startsWith('outbox.log.'));
    expect(leftovers).toEqual([]);
  }, 60_000);
});
