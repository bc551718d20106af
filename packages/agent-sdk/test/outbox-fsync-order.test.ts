// The outbox's promise: an alert is reported queued (append() resolves, which is what
// AgentClient.sendAlert awaits) or handed to the stream (next()) only once the write holding it
// has been datasynced. These tests run the real outbox on a real file whose handle records every
// write and datasync, with each datasync held open by the test, so a wrong order shows as an
// event in the journal before the datasync that should have preceded it.
import { randomUUID } from 'node:crypto';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@tripwire/test-fixtures/until';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, type OutboxAlert } from '../src/index.js';

type Event =
  | { kind: 'write'; ids: string[] }
  | { kind: 'sync-started' }
  | { kind: 'sync-done' }
  | { kind: 'appended'; id: string }
  | { kind: 'sendable'; id: string };

let dir: string;
let journal: Event[];
let heldSyncs: Array<() => void>;
let holding: boolean;
/** Every alert id the test made: the write recorder looks for them in the bytes written. */
let known: string[];
let outbox: Outbox | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tripwire-outbox-order-'));
  journal = [];
  heldSyncs = [];
  holding = false;
  known = [];
});
afterEach(async () => {
  holding = false;
  for (const release of heldSyncs.splice(0)) release();
  await outbox?.close();
  outbox = undefined;
  await rm(dir, { recursive: true, force: true });
});

const alert = (detail = 'first'): OutboxAlert => {
  const alertId = randomUUID();
  known.push(alertId);
  return {
    alertId,
    tripwireType: 'FILE',
    severity: 'CRITICAL',
    ruleName: 'etc-passwd-watch',
    timestampUs: Date.now() * 1000,
    detailJson: JSON.stringify({ path: '/etc/passwd', detail }),
  };
};

/** Runs the real datasync, then (while the test holds syncs) waits for the test to release it. */
async function recordedSync(real: () => Promise<void>): Promise<void> {
  journal.push({ kind: 'sync-started' });
  await real();
  if (holding) await new Promise<void>((release) => heldSyncs.push(release));
  journal.push({ kind: 'sync-done' });
}

/** The real file handle, with its writes and datasyncs recorded in the journal. */
function recordingHandle(file: FileHandle): FileHandle {
  return new Proxy(file, {
    get(target, prop) {
      if (prop === 'writev')
        return (bufs: Buffer[], position?: number) => {
          const text = Buffer.concat(bufs).toString('latin1');
          journal.push({ kind: 'write', ids: known.filter((id) => text.includes(id)) });
          return target.writev(bufs, position);
        };
      if (prop === 'datasync') return () => recordedSync(() => target.datasync());
      if (prop === 'sync') return () => recordedSync(() => target.sync());
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function openRecordedOutbox(): Promise<Outbox> {
  outbox = await Outbox.open({
    path: join(dir, 'outbox.log'),
    openLog: async (path) => recordingHandle(await open(path, 'r+')),
  });
  // The stream's view: whatever next() hands out is on its way to the server.
  outbox.on('available', () => {
    for (const a of outbox!.next(1000)) journal.push({ kind: 'sendable', id: a.alertId });
  });
  holding = true;
  return outbox;
}

const append = (box: Outbox, a: OutboxAlert) =>
  box.append(a).then(() => journal.push({ kind: 'appended', id: a.alertId }));

const reported = () => journal.filter((e) => e.kind === 'appended' || e.kind === 'sendable');

/**
 * Walks the journal: an id becomes durable when a datasync that started after a write holding it
 * completes. Reporting it queued or sendable before that is the bug these tests guard against.
 */
function outOfOrder(): string[] {
  let written = new Set<string>();
  let syncing = new Set<string>();
  const durable = new Set<string>();
  const problems: string[] = [];
  for (const [i, e] of journal.entries()) {
    if (e.kind === 'write')
      for (const id of e.ids) {
        written.add(id);
        durable.delete(id);
      }
    if (e.kind === 'sync-started')
      [syncing, written] = [new Set([...syncing, ...written]), new Set()];
    if (e.kind === 'sync-done') {
      for (const id of syncing) durable.add(id);
      syncing = new Set();
    }
    if ((e.kind === 'appended' || e.kind === 'sendable') && !durable.has(e.id))
      problems.push(`#${i} ${e.kind} ${e.id} before its write was datasynced`);
  }
  return problems;
}

/** Lets every queued microtask and a few event-loop turns run: file writes complete meanwhile. */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('outbox durability order (write, datasync, then queued)', () => {
  it('reports no alert queued or sendable until the datasync of its write resolved', async () => {
    const box = await openRecordedOutbox();
    const first = [alert(), alert(), alert()];
    const appended = first.map((a) => append(box, a));
    // The writer reaches its datasync (held) or, were it missing, reports the alerts queued.
    await until(() => journal.some((e) => e.kind === 'sync-started' || e.kind === 'appended'));
    await turns();
    expect(reported(), JSON.stringify(journal)).toEqual([]);

    // Appends made while a datasync is pending wait for the next write and the next datasync.
    const later = alert();
    const laterAppended = append(box, later);
    await turns();
    expect(reported(), JSON.stringify(journal)).toEqual([]);

    heldSyncs.shift()!();
    await Promise.all(appended);
    await until(() => heldSyncs.length === 1);
    await turns();
    expect(reported().some((e) => e.id === later.alertId)).toBe(false);
    heldSyncs.shift()!();
    await laterAppended;
    await until(() => reported().length === 8);
    expect(outOfOrder(), JSON.stringify(journal)).toEqual([]);
  });

  it('hands out a corrected version (replace) only once its own write is datasynced', async () => {
    const box = await openRecordedOutbox();
    const original = alert();
    const appended = append(box, original);
    await until(() => heldSyncs.length === 1 || reported().length > 0);
    heldSyncs.shift()?.();
    await appended;
    await until(() => reported().length === 2);

    const corrected = { ...original, detailJson: JSON.stringify({ detail: 'corrected' }) };
    const replaced = box
      .replace(corrected)
      .then(() => journal.push({ kind: 'appended', id: original.alertId }));
    await until(() => heldSyncs.length === 1 || reported().length > 2);
    await turns();
    expect(reported(), JSON.stringify(journal)).toHaveLength(2);
    expect(box.get(original.alertId)?.detailJson).toBe(original.detailJson);
    heldSyncs.shift()?.();
    await replaced;
    await until(() => reported().length === 4);
    expect(box.get(original.alertId)?.detailJson).toBe(corrected.detailJson);
    expect(outOfOrder(), JSON.stringify(journal)).toEqual([]);
  });
});
