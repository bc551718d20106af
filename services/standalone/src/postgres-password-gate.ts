import { connect, createServer, type Socket } from 'node:net';
import {
  finishScramExchange,
  SCRAM_MECHANISM,
  type ScramExchange,
  type ScramVerifier,
  scramVerifier,
  startScramExchange,
} from './scram-sha256.js';

/**
 * The TCP door to the embedded PostgreSQL. pglite-socket has no authentication (every
 * connection is a superuser), so it listens on a Unix socket in a private 0700 folder and
 * this gate stands in front: it answers the startup message with a SCRAM-SHA-256 password
 * exchange, as a real PostgreSQL would, and only after it succeeds opens the Unix socket,
 * replays the startup message there and joins the two connections.
 */
export interface PasswordGateOptions {
  password: string;
  /** The Unix socket pglite-socket listens on. */
  backendPath: string;
  host: string;
  /** 0: any free port. */
  port: number;
  /** Connections at once, authenticated or not (the rest are dropped by the kernel queue). */
  maxConnections: number;
  /** Each refused connection, with the reason: the caller logs it. */
  onRefused?: (reason: string, remoteAddress: string | undefined) => void;
}

export interface PasswordGate {
  port: number;
  close(): Promise<void>;
}

// PostgreSQL's own limits: a startup packet of at most 10,000 bytes (MAX_STARTUP_PACKET_LENGTH)
// and authentication_timeout (60 s by default; loopback clients need far less).
export const MAX_STARTUP_BYTES = 10_000;
export const MAX_SASL_BYTES = 2_048;
export const AUTH_TIMEOUT_MS = 10_000;

const PROTOCOL_3 = 196_608;
const SSL_REQUEST = 80_877_103;
const GSSENC_REQUEST = 80_877_104;
const CANCEL_REQUEST = 80_877_102;
const PASSWORD_MESSAGE = 0x70; // 'p': SASLInitialResponse and SASLResponse

function authRequest(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.write('R', 0);
  head.writeUInt32BE(8 + payload.length, 1);
  head.writeUInt32BE(code, 5);
  return Buffer.concat([head, payload]);
}

/** ErrorResponse with severity FATAL, the SQLSTATE and a message: what psql and `pg` show. */
function fatal(sqlState: string, message: string): Buffer {
  const fields = ['SFATAL', 'VFATAL', `C${sqlState}`, `M${message}`].map((f) => `${f}\0`).join('');
  const body = Buffer.from(`${fields}\0`);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/** The user name in a startup message (pairs of NUL-terminated strings), for the error text. */
function startupUser(startup: Buffer): string {
  const parts = startup.subarray(8).toString('utf8').split('\0');
  const at = parts.indexOf('user');
  return (at >= 0 ? (parts[at + 1] ?? '') : '').slice(0, 63);
}

/** SASLInitialResponse: mechanism, int32 length, data. SASLResponse: just the data. */
function saslData(body: Buffer, initial: boolean): { mechanism?: string; data: string } | null {
  if (!initial) return { data: body.toString('utf8') };
  const end = body.indexOf(0);
  if (end < 0 || body.length < end + 5) return null;
  const length = body.readInt32BE(end + 1);
  const data = body.subarray(end + 5);
  if (length !== data.length) return null;
  return { mechanism: body.toString('utf8', 0, end), data: data.toString('utf8') };
}

export async function startPasswordGate(options: PasswordGateOptions): Promise<PasswordGate> {
  const verifier = scramVerifier(options.password);
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    authenticate(client, verifier, options);
  });
  server.maxConnections = options.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One client: startup (SSL/GSS requests declined), then SASL, then the backend. */
function authenticate(client: Socket, verifier: ScramVerifier, options: PasswordGateOptions) {
  let buffer = Buffer.alloc(0);
  let startup: Buffer | undefined;
  let exchange: ScramExchange | undefined;
  let done = false;
  const refuse = (sqlState: string, message: string, reason: string) => {
    done = true;
    options.onRefused?.(reason, client.remoteAddress);
    // Written, then closed whether or not the peer ever reads or closes its side.
    client.end(fatal(sqlState, message), () => client.destroy());
  };
  client.setTimeout(AUTH_TIMEOUT_MS, () => {
    if (!done) refuse('08006', 'authentication timed out', 'timeout');
  });
  client.on('error', () => client.destroy());

  // Returns false when more bytes are needed (or the connection was refused).
  const step = (): boolean => {
    if (!startup) {
      if (buffer.length < 8) return false;
      const length = buffer.readUInt32BE(0);
      if (length < 8 || length > MAX_STARTUP_BYTES) {
        refuse('08P01', 'invalid startup packet length', 'malformed');
        return false;
      }
      if (buffer.length < length) return false;
      const message = buffer.subarray(0, length);
      buffer = buffer.subarray(length);
      const code = message.readUInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        client.write('N'); // no encryption on loopback: the client continues in plaintext
        return true;
      }
      if (code === CANCEL_REQUEST) {
        done = true; // PGlite has no backend to signal; PostgreSQL answers nothing either
        client.destroy();
        return false;
      }
      if (code !== PROTOCOL_3) {
        refuse('0A000', 'unsupported frontend protocol', 'malformed');
        return false;
      }
      startup = Buffer.from(message);
      const mechanisms = Buffer.from(`${SCRAM_MECHANISM}\0\0`);
      client.write(authRequest(10, mechanisms));
      return true;
    }
    if (buffer.length < 5) return false;
    const length = buffer.readUInt32BE(1);
    if (buffer[0] !== PASSWORD_MESSAGE || length < 4 || length > MAX_SASL_BYTES) {
      refuse('08P01', 'expected a SASL response', 'malformed');
      return false;
    }
    if (buffer.length < 1 + length) return false;
    const body = buffer.subarray(5, 1 + length);
    buffer = buffer.subarray(1 + length);
    const user = startupUser(startup);
    const failed = () =>
      refuse('28P01', `password authentication failed for user "${user}"`, 'password');
    const sasl = saslData(body, !exchange);
    if (!sasl || (!exchange && sasl.mechanism !== SCRAM_MECHANISM)) {
      failed();
      return false;
    }
    if (!exchange) {
      exchange = startScramExchange(verifier, sasl.data);
      if (!exchange) {
        failed();
        return false;
      }
      client.write(authRequest(11, Buffer.from(exchange.serverFirst)));
      return true;
    }
    const serverFinal = finishScramExchange(verifier, exchange, sasl.data);
    if (!serverFinal) {
      failed();
      return false;
    }
    done = true;
    client.write(authRequest(12, Buffer.from(serverFinal)));
    joinBackend(client, options, startup, buffer);
    return false;
  };

  client.on('data', (chunk: Buffer) => {
    if (done) return;
    buffer = Buffer.concat([buffer, chunk]);
    while (!done && step()) {}
  });
}

/** After the password: the backend sees the original startup message and answers AuthenticationOk. */
function joinBackend(client: Socket, options: PasswordGateOptions, startup: Buffer, rest: Buffer) {
  client.removeAllListeners('data');
  client.removeAllListeners('timeout');
  client.setTimeout(0);
  client.pause();
  const backend = connect(options.backendPath);
  backend.on('error', () => {
    options.onRefused?.('backend unavailable', client.remoteAddress);
    client.end(fatal('57P03', 'the embedded database is not accepting connections'));
  });
  client.on('close', () => backend.destroy());
  backend.on('close', () => client.destroy());
  backend.once('connect', () => {
    backend.write(startup);
    if (rest.length > 0) backend.write(rest);
    client.pipe(backend);
    backend.pipe(client);
  });
}
