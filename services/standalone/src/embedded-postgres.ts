import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { startPasswordGate } from './postgres-password-gate.js';
import { ensurePrivateDir, tightenModes } from './private-files.js';

export interface EmbeddedPostgres {
  /**
   * postgres://postgres:<password>@host:port/postgres for `pg` (pool, migrations): the same
   * code as against a real server. Holds the password: log it through redactUrl.
   */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Folder the database lives in across restarts; created if missing, kept 0700. */
  dataDir: string;
  /** Every connection must prove it (SCRAM-SHA-256), as with a real server's password. */
  password: string;
  /** Each connection the password gate refused, with the reason (for the log). */
  onRefused?: (reason: string, remoteAddress: string | undefined) => void;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Client connections served at once (they share PGlite's single backend, one message at a time). */
  maxConnections?: number;
}

// Extended-protocol message types that leave the unnamed statement/portal waiting for a Sync.
const EXTENDED = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'F'].map((c) => c.charCodeAt(0)));
const SYNC = 'S'.charCodeAt(0);
const PARSE = 'P'.charCodeAt(0);
const PARSE_COMPLETE = new Uint8Array([0x31, 0, 0, 0, 4]);

type StreamOptions = Parameters<PGlite['execProtocolRawStream']>[1];

/** A Parse message: 'P', length, statement name, query text (both NUL-terminated), parameter types. */
function parseMessage(message: Uint8Array): { name: string; text: string } {
  const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const nameEnd = buf.indexOf(0, 5);
  const textEnd = buf.indexOf(0, nameEnd + 1);
  return {
    name: buf.toString('utf8', 5, nameEnd),
    text: buf.toString('utf8', nameEnd + 1, textEnd),
  };
}

/**
 * PGlite served over the PostgreSQL wire protocol, so `pg` and the SQL migrations run
 * unchanged. pglite-socket multiplexes many connections onto PGlite's one backend and keeps
 * a connection's transaction (BEGIN…COMMIT) together, but not its extended-query sequence
 * (Parse, Bind, Execute … Sync): a parameterized query from another connection slipped in
 * between them replaces the unnamed statement ("portal does not exist"). The proxy reports
 * such a sequence as "in a transaction" until its Sync, which makes the multiplexer keep it
 * together the same way. It also lets a named statement (alert-store's insert) be prepared
 * by every connection, though they share one backend.
 *
 * pglite-socket itself has no authentication: it listens on a Unix socket in a fresh 0700
 * folder only this user can enter, and the TCP port `pg` uses is the password gate's
 * (postgres-password-gate.ts). The data folder is 0700 and its files 0600 (private-files.ts).
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  ensurePrivateDir(options.dataDir);
  const lock = lockDataDir(options.dataDir);
  // pg_trgm (shipped inside PGlite) backs alert search's index (migration 0015).
  const db = await PGlite.create(options.dataDir, { extensions: { pg_trgm } });
  tightenModes(options.dataDir);
  let midSequence = false;
  const prepared = new Map<string, string>();
  const multiplexed = new Proxy(db, {
    get(target, key) {
      if (key === 'isInTransaction') return () => midSequence || target.isInTransaction();
      if (key === 'execProtocolRawStream') {
        return async (message: Uint8Array, opts: StreamOptions) => {
          const type = message[0];
          if (type === SYNC) midSequence = false;
          else if (type !== undefined && EXTENDED.has(type)) midSequence = true;
          if (type !== PARSE) return target.execProtocolRawStream(message, opts);
          // `pg` prepares a named statement once per connection; here every connection shares
          // one backend, where the name exists already: answer ParseComplete for the same text.
          const { name, text } = parseMessage(message);
          if (name && prepared.get(name) === text) return opts.onRawData(PARSE_COMPLETE);
          let ok = false;
          await target.execProtocolRawStream(message, {
            ...opts,
            onRawData: (data) => {
              ok ||= data[0] === PARSE_COMPLETE[0];
              opts.onRawData(data);
            },
          });
          if (name && ok) prepared.set(name, text);
        };
      }
      if (key === 'exec') {
        // The multiplexer rolls back after a client disconnected mid-transaction.
        return (query: string) => {
          midSequence = false;
          return target.exec(query);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  // mkdtemp makes the folder 0700: the socket in it is reachable by this user only.
  const socketDir = mkdtempSync(join(tmpdir(), 'tripwire-pglite-'));
  const maxConnections = options.maxConnections ?? 40;
  const server = new PGLiteSocketServer({
    db: multiplexed,
    path: join(socketDir, '.s.PGSQL.5432'),
    maxConnections,
  });
  await server.start();
  const host = options.host ?? '127.0.0.1';
  const gate = await startPasswordGate({
    password: options.password,
    backendPath: join(socketDir, '.s.PGSQL.5432'),
    host,
    port: options.port ?? 0,
    maxConnections,
    ...(options.onRefused ? { onRefused: options.onRefused } : {}),
  }).catch(async (err: Error) => {
    // The port is taken, say: leave nothing behind for the next attempt.
    await server.stop();
    await db.close();
    rmSync(socketDir, { recursive: true, force: true });
    lock.release();
    throw err;
  });
  return {
    url: `postgres://postgres:${encodeURIComponent(options.password)}@${host}:${gate.port}/postgres`,
    async stop() {
      await gate.close();
      await server.stop();
      await db.close();
      rmSync(socketDir, { recursive: true, force: true });
      tightenModes(options.dataDir);
      lock.release();
    },
  };
}

/** PGlite has no postmaster to refuse a second process on the same files: a pid file does. */
function lockDataDir(dataDir: string): { release(): void } {
  const file = `${dataDir}.pid`;
  let holder = Number.NaN;
  try {
    holder = Number(readFileSync(file, 'utf8'));
  } catch {}
  if (holder && holder !== process.pid && isAlive(holder)) {
    throw new Error(
      `${dataDir} is in use by process ${holder} (another \`pnpm start\`?); stop it first`,
    );
  }
  writeFileSync(file, String(process.pid), { mode: 0o600 });
  return { release: () => rmSync(file, { force: true }) };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
