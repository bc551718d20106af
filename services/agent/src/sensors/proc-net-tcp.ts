import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMissing } from './file-facts.js';

export type TcpProtocol = 'tcp' | 'tcp6';
/** /proc/net/udp[6] rows have the same columns (state 7 = CLOSE: not connected). */
export type SocketProtocol = TcpProtocol | 'udp' | 'udp6';

/** One row of /proc/net/tcp, tcp6, udp or udp6. */
export interface TcpSocket {
  protocol: SocketProtocol;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** The kernel's state number (0x0A = LISTEN). */
  state: number;
  stateName: string;
  uid: number;
  /** 0 for a socket no process holds any more (TIME_WAIT). */
  inode: number;
}

export const TCP_LISTEN = 0x0a;

const STATE_NAMES: Record<number, string> = {
  1: 'ESTABLISHED',
  2: 'SYN_SENT',
  3: 'SYN_RECV',
  4: 'FIN_WAIT1',
  5: 'FIN_WAIT2',
  6: 'TIME_WAIT',
  7: 'CLOSE',
  8: 'CLOSE_WAIT',
  9: 'LAST_ACK',
  10: 'LISTEN',
  11: 'CLOSING',
  12: 'NEW_SYN_RECV',
};

/** The 4 bytes of a little-endian 32-bit word as the kernel printed it ("0100007F" → 127,0,0,1). */
function wordBytes(hex8: string): number[] {
  const n = Number.parseInt(hex8, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** RFC 5952 text: lower case, longest run (of two or more) of zero groups as `::`, v4-mapped dotted. */
export function formatIpv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** "0100007F" → "127.0.0.1"; 32 hex digits (four little-endian words) → IPv6 text. */
export function parseHexAddress(hex: string): string {
  if (hex.length === 8) return wordBytes(hex).join('.');
  if (hex.length === 32) {
    const bytes: number[] = [];
    for (let i = 0; i < 32; i += 8) bytes.push(...wordBytes(hex.slice(i, i + 8)));
    return formatIpv6(bytes);
  }
  throw new Error(`not a /proc/net/tcp address: ${hex}`);
}

function parseEndpoint(text: string): [string, number] | null {
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  const port = Number.parseInt(text.slice(colon + 1), 16);
  if (!Number.isInteger(port)) return null;
  return [parseHexAddress(text.slice(0, colon)), port];
}

/**
 * One line of /proc/net/tcp[6]:
 * `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`.
 * The header line and anything malformed give null.
 */
export function parseProcNetTcpLine(line: string, protocol: SocketProtocol): TcpSocket | null {
  const f = line.trim().split(/\s+/);
  if (f.length < 10 || !/^\d+:$/.test(f[0]!)) return null;
  try {
    const local = parseEndpoint(f[1]!);
    const remote = parseEndpoint(f[2]!);
    const state = Number.parseInt(f[3]!, 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isInteger(state) || !Number.isInteger(uid)) return null;
    if (!Number.isInteger(inode)) return null;
    return {
      protocol,
      localAddress: local[0],
      localPort: local[1],
      remoteAddress: remote[0],
      remotePort: remote[1],
      state,
      stateName: STATE_NAMES[state] ?? `0x${f[3]}`,
      uid,
      inode,
    };
  } catch {
    return null;
  }
}

export function parseProcNetTcp(text: string, protocol: SocketProtocol): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split('\n')) {
    const socket = parseProcNetTcpLine(line, protocol);
    if (socket) out.push(socket);
  }
  return out;
}

/** Every TCP socket of this network namespace; a missing tcp6 (IPv6 off) is no sockets. */
export function readTcpSockets(procRoot: string): Promise<TcpSocket[]> {
  return readSockets(procRoot, ['tcp', 'tcp6']);
}

/** The sockets of these /proc/net tables; a missing table (IPv6 off) is no sockets. */
export async function readSockets(
  procRoot: string,
  protocols: readonly SocketProtocol[],
): Promise<TcpSocket[]> {
  const read = async (protocol: SocketProtocol) => {
    try {
      return parseProcNetTcp(await readFile(join(procRoot, 'net', protocol), 'utf8'), protocol);
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  };
  return (await Promise.all(protocols.map(read))).flat();
}
