import { describe, expect, it } from 'vitest';
import { parseNetworkTarget, socketMatches } from '../../src/sensors/network-sensor.js';
import {
  formatIpv6,
  parseHexAddress,
  parseProcNetTcp,
  parseProcNetTcpLine,
} from '../../src/sensors/proc-net-tcp.js';

// Lines as the kernel prints them (trailing fields included).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:6448 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 5666 1 000000000888076d 100 0 0 10 0
   1: 0F02000A:0016 0202000A:C350 01 00000000:00000000 02:000A7C6B 00000000     0        0 28481 4 0000000000000000 20 4 31 10 -1
  10: 0100007F:D2F0 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 4918 1 000000002ac0bf2d 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 90210 1 0000000000000000 20 4 30 10 -1
   2: 000080FE00000000FF27000AA1664EFE:0016 B80D0120000000000000000001000000:E3A1 02 00000001:00000000 01:00000200 00000000     0        0 777 2 0000000000000000 20 4 30 10 -1
`;

describe('/proc/net/tcp parsing', () => {
  it('parses IPv4 rows: little-endian addresses, hex ports, state, uid, inode', () => {
    const rows = parseProcNetTcp(TCP, 'tcp');
    expect(rows).toEqual([
      {
        protocol: 'tcp',
        localAddress: '127.0.0.1',
        localPort: 25672,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        state: 10,
        stateName: 'LISTEN',
        uid: 106,
        inode: 5666,
      },
      {
        protocol: 'tcp',
        localAddress: '10.0.2.15',
        localPort: 22,
        remoteAddress: '10.0.2.2',
        remotePort: 50000,
        state: 1,
        stateName: 'ESTABLISHED',
        uid: 0,
        inode: 28481,
      },
      {
        protocol: 'tcp',
        localAddress: '127.0.0.1',
        localPort: 54000,
        remoteAddress: '127.0.0.1',
        remotePort: 8080,
        state: 6,
        stateName: 'TIME_WAIT',
        uid: 0,
        inode: 0,
      },
    ]);
  });

  it('parses IPv6 rows: four little-endian words, v4-mapped shown dotted', () => {
    const rows = parseProcNetTcp(TCP6, 'tcp6');
    expect(
      rows.map((r) => [
        r.localAddress,
        r.localPort,
        r.remoteAddress,
        r.remotePort,
        r.stateName,
        r.uid,
        r.inode,
      ]),
    ).toEqual([
      ['::1', 4369, '::', 0, 'LISTEN', 106, 4918],
      ['::ffff:127.0.0.1', 8080, '::ffff:127.0.0.1', 54000, 'ESTABLISHED', 1000, 90210],
      ['fe80::a00:27ff:fe4e:66a1', 22, '2001:db8::1', 58273, 'SYN_SENT', 0, 777],
    ]);
  });

  it('skips the header, blank and malformed lines', () => {
    expect(parseProcNetTcpLine('  sl  local_address rem_address   st tx_queue', 'tcp')).toBeNull();
    expect(parseProcNetTcpLine('', 'tcp')).toBeNull();
    expect(parseProcNetTcpLine('   0: 0100007F 00000000:0000 0A 0 0 0 0 0 0', 'tcp')).toBeNull();
    expect(parseProcNetTcpLine('   0: 01007F:0016 00000000:0000 0A a b c 0 0 1', 'tcp')).toBeNull();
  });

  it('formats IPv6 the RFC 5952 way', () => {
    const bytes = (hex: string) => hex.match(/../g)!.map((b) => Number.parseInt(b, 16));
    expect(formatIpv6(bytes('00000000000000000000000000000000'))).toBe('::');
    expect(formatIpv6(bytes('20010db8000000010001000100010001'))).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIpv6(bytes('20010000000000010000000000000001'))).toBe('2001:0:0:1::1');
    expect(formatIpv6(bytes('fe800000000000000000000000000000'))).toBe('fe80::');
    expect(parseHexAddress('00000000')).toBe('0.0.0.0');
    expect(() => parseHexAddress('123')).toThrow();
  });
});

describe('NETWORK rule targets', () => {
  const row = (state: number, localPort: number, remotePort: number) => ({
    protocol: 'tcp' as const,
    localAddress: '127.0.0.1',
    localPort,
    remoteAddress: '127.0.0.1',
    remotePort,
    state,
    stateName: '',
    uid: 0,
    inode: 1,
  });

  it('reads "listen", "*" and port lists, and refuses anything else', () => {
    expect(parseNetworkTarget('listen')).toEqual({ kind: 'any-listen' });
    expect(parseNetworkTarget(' * ')).toEqual({ kind: 'any-listen' });
    expect(parseNetworkTarget('22, 4444')).toEqual({ kind: 'ports', ports: new Set([22, 4444]) });
    for (const bad of ['', 'ssh', '70000', '22,', '-1', '4444/tcp']) {
      expect(parseNetworkTarget(bad)).toBeNull();
    }
  });

  it('matches listeners for "listen", and listeners or either end of a connection for ports', () => {
    const listen = parseNetworkTarget('listen')!;
    const ports = parseNetworkTarget('4444')!;
    expect(socketMatches(listen, row(0x0a, 80, 0))).toBe(true);
    expect(socketMatches(listen, row(0x01, 80, 4444))).toBe(false);
    expect(socketMatches(ports, row(0x0a, 4444, 0))).toBe(true);
    expect(socketMatches(ports, row(0x0a, 80, 0))).toBe(false);
    expect(socketMatches(ports, row(0x01, 4444, 50000))).toBe(true);
    expect(socketMatches(ports, row(0x02, 50000, 4444))).toBe(true);
    expect(socketMatches(ports, row(0x06, 50000, 80))).toBe(false);
  });
});
