import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, type Pool } from '@tripwire/storage';
import { fc, fuzz } from '@tripwire/test-fixtures/fuzz';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/embedded-postgres.js';
import { startupMessage, typedMessage } from './postgres-wire.js';

// The nastiest local client of the embedded database's TCP port: whatever bytes it sends
// before the password, it never gets AuthenticationOk, and the gate keeps serving others.
const dir = mkdtempSync(join(tmpdir(), 'tw-gate-fuzz-'));
let db: EmbeddedPostgres;
let pool: Pool;

beforeAll(async () => {
  db = await startEmbeddedPostgres({
    dataDir: join(dir, 'pgdata'),
    password: randomBytes(24).toString('base64url'),
  });
  pool = createPool({ databaseUrl: db.url, max: 1 });
});
afterAll(async () => {
  await pool?.end();
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const AUTH_OK = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);

/** Sends everything, half-closes, and collects what the gate said until it closed. */
function blast(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(db.url).port), '127.0.0.1');
    const replies: Buffer[] = [];
    socket.on('data', (d) => replies.push(d));
    socket.on('error', (err) =>
      (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err),
    );
    socket.on('close', () => resolve(Buffer.concat(replies)));
    socket.end(bytes);
  });
}

const saslish = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.constantFrom('n', 'y', 'p=tls-server-end-point', 'x'), fc.string({ maxLength: 80 }))
    .map(([flag, nonce]) => {
      const data = Buffer.from(`${flag},,n=*,r=${nonce}`);
      const length = Buffer.alloc(4);
      length.writeInt32BE(data.length);
      return Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), length, data]);
    }),
  fc
    .tuple(fc.string({ maxLength: 60 }), fc.uint8Array({ minLength: 32, maxLength: 32 }))
    .map(([nonce, proof]) =>
      Buffer.from(`c=biws,r=${nonce},p=${Buffer.from(proof).toString('base64')}`),
    ),
);

it('never lets a client past the password, and keeps serving', async () => {
  await fuzz(
    'embedded postgres password gate',
    fc.asyncProperty(
      fc.boolean(),
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          fc
            .tuple(fc.constantFrom('p', 'Q', 'X', 'P'), saslish)
            .map(([type, body]) => typedMessage(type, body)),
        ),
        { maxLength: 4 },
      ),
      async (withStartup, messages) => {
        const reply = await blast(
          Buffer.concat([...(withStartup ? [startupMessage()] : []), ...messages]),
        );
        expect(reply.includes(AUTH_OK)).toBe(false);
      },
    ),
    40,
  );
  expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
});
