// The dashboard's files (and /api/openapi.yaml) are served to anyone, without a credential. A
// client that asks for a large one and does not read must not make the fan-out hold a copy of
// it: uWebSockets.js's end() kept whatever the socket did not take at once in a buffer of that
// connection, so a few hundred slow readers of the 1 MB API-reference bundle were gigabytes.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningFanout, startFanout, useEnvironment } from './fanout-harness.js';

const env = useEnvironment();
const FILE_BYTES = 24 * 1024 * 1024;
const READERS = 8;

let dir: string;
let fanout: RunningFanout;
const sockets: Socket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tripwire-dashboard-big-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>TripWire</title>');
  // Random bytes: not compressible, so served as they are whatever the client accepts.
  writeFileSync(join(dir, 'assets', 'big-0a1b2c.bin'), randomBytes(FILE_BYTES));
  fanout = await startFanout(env, { DASHBOARD_DIR: dir });
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await fanout?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Asks for the file, reads its first bytes (the server has answered), then stops reading. */
function slowReader(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n`),
    );
    sockets.push(socket);
    socket.once('data', (chunk) => {
      socket.pause();
      resolve(chunk.toString('latin1').split('\r\n')[0] ?? '');
    });
    socket.once('error', reject);
  });
}

describe('a large file to clients that do not read', () => {
  it('is not copied per connection: the memory stays flat', async () => {
    const port = Number(new URL(fanout.url).port);
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    const statuses = await Promise.all(
      Array.from({ length: READERS }, () => slowReader(port, '/assets/big-0a1b2c.bin')),
    );
    expect(statuses).toEqual(Array(READERS).fill('HTTP/1.1 200 OK'));
    const grownMb = (process.memoryUsage().rss - before) / 1024 / 1024;
    // Copies would be READERS x (24 MB less what the kernel's socket buffers took): 150 MB and
    // more; the shared body costs nothing per reader.
    expect(grownMb).toBeLessThan(64);
  });

  it('still reaches a client that reads it all, whole', async () => {
    const res = await fetch(`${fanout.url}/assets/big-0a1b2c.bin`, {
      headers: { 'accept-encoding': 'identity' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(FILE_BYTES));
    expect((await res.arrayBuffer()).byteLength).toBe(FILE_BYTES);
  });
});
