import { lstatSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** A StartupMessage (protocol 3.0) for `user` and database postgres, as a client sends it. */
export function startupMessage(user = 'postgres'): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0postgres\0\0`);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + params.length, 0);
  head.writeUInt32BE(196_608, 4);
  return Buffer.concat([head, params]);
}

/** A typed message: one type byte, int32 length, body. */
export function typedMessage(type: string, body: Buffer | string): Buffer {
  const payload = Buffer.from(body);
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeUInt32BE(4 + payload.length, 1);
  return Buffer.concat([head, payload]);
}

/**
 * Sends each chunk once the server answered the previous one (the first at once), then waits
 * for the server to close: what a hand-written client observes, byte for byte.
 */
export function converse(
  port: number,
  chunks: Buffer[],
): Promise<{ replies: Buffer[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const replies: Buffer[] = [];
    let next = 0;
    const send = () => {
      const chunk = chunks[next++];
      if (chunk) socket.write(chunk);
    };
    socket.once('connect', send);
    socket.on('data', (data) => {
      replies.push(data);
      send();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ replies, closed: true }));
  });
}

/** Every path under root with its permission bits, root first. */
export function modesUnder(root: string): Array<{ path: string; dir: boolean; mode: number }> {
  const out: Array<{ path: string; dir: boolean; mode: number }> = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    out.push({ path, dir: stat.isDirectory(), mode: stat.mode & 0o777 });
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
  return out;
}
