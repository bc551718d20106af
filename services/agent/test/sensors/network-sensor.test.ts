import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createNetworkSensor, type Sensor } from '../../src/sensors/index.js';
import {
  type RecordingContext,
  recordingContext,
  rule,
  settle,
  waitFor,
} from './sensor-harness.js';

let rec: RecordingContext;
let sensor: Sensor | undefined;
const servers: Server[] = [];
const sockets: Socket[] = [];
const children: ChildProcess[] = [];

beforeEach(() => {
  rec = recordingContext();
});
afterEach(async () => {
  await sensor?.stop();
  sensor = undefined;
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(host: string, port = 0): Promise<number> {
  const server = createServer((socket) => sockets.push(socket));
  servers.push(server);
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function dial(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await once(socket, 'connect');
  return socket;
}

async function start(...rules: ReturnType<typeof rule>[]) {
  sensor = createNetworkSensor(rec.ctx, { pollMs: 100 });
  await sensor.update(rules);
  return sensor;
}

describe('network sensor', () => {
  it('alerts on a new listening socket, naming the process that owns it', async () => {
    await start(rule('NETWORK', 'listen', { name: 'new-listener', severity: 'WARN' }));
    const port = await listen('127.0.0.1');
    const alert = await waitFor('listen alert', () => rec.matching({ local_port: port })[0]);
    expect(alert).toMatchObject({
      tripwireType: 'NETWORK',
      severity: 'WARN',
      ruleName: 'new-listener',
    });
    expect(alert.detail).toMatchObject({
      kind: 'listen',
      protocol: 'tcp',
      local_address: '127.0.0.1',
      local_port: port,
      remote_address: '0.0.0.0',
      remote_port: 0,
      state: 'LISTEN',
      uid: 0,
      user: 'root',
      pid: process.pid,
      process: expect.stringContaining('node'),
    });
    expect(alert.detail.inode).toBeGreaterThan(0);
    await settle(300);
    expect(rec.matching({ local_port: port })).toHaveLength(1);
  });

  it('reads IPv6 listeners from tcp6, and finds an owner in another process', async () => {
    await start(rule('NETWORK', '*'));
    const v6 = await listen('::1');
    const alert6 = await waitFor('tcp6 alert', () => rec.matching({ local_port: v6 })[0]);
    expect(alert6.detail).toMatchObject({
      protocol: 'tcp6',
      local_address: '::1',
      pid: process.pid,
    });

    const child = spawn(
      process.execPath,
      [
        '-e',
        "require('net').createServer().listen(0,'127.0.0.1',function(){console.log(this.address().port)})",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    const port = Number(chunk.toString().trim());
    const alert = await waitFor('child alert', () => rec.matching({ local_port: port })[0]);
    expect(alert.detail).toMatchObject({
      kind: 'listen',
      pid: child.pid,
      process: expect.stringContaining("createServer().listen(0,'127.0.0.1'"),
    });
  });

  it('alerts on a connection to a watched port (both ends), and not on other ports or old listeners', async () => {
    const watched = await listen('127.0.0.1');
    const unwatched = await listen('127.0.0.1');
    await start(rule('NETWORK', `1, ${watched}`, { name: 'backdoor-port' }));
    await dial(unwatched);
    const client = await dial(watched);
    const clientEnd = await waitFor('client end', () => rec.matching({ remote_port: watched })[0]);
    expect(clientEnd.detail).toMatchObject({
      kind: 'connection',
      protocol: 'tcp',
      local_address: '127.0.0.1',
      local_port: client.localPort,
      remote_address: '127.0.0.1',
      remote_port: watched,
      state: 'ESTABLISHED',
      pid: process.pid,
    });
    const serverEnd = await waitFor(
      'server end',
      () => rec.matching({ local_port: watched, kind: 'connection' })[0],
    );
    expect(serverEnd.detail).toMatchObject({ remote_port: client.localPort, pid: process.pid });
    await settle(300);
    // Two sockets, one alert each: no repeat as the connection lives on, nothing for the other port.
    expect(rec.alerts).toHaveLength(2);
    expect(rec.alerts.every((a) => a.ruleName === 'backdoor-port')).toBe(true);

    // Closing leaves TIME_WAIT on the same 4-tuple: the same connection, no new alert.
    client.destroy();
    await settle(300);
    expect(rec.alerts).toHaveLength(2);
  });

  it('alerts on a new listener on a watched port', async () => {
    const port = await listen('127.0.0.1');
    await new Promise((r) => servers.pop()!.close(r));
    await start(rule('NETWORK', String(port)));
    await listen('127.0.0.1', port);
    const alert = await waitFor('listen alert', () => rec.alerts[0]);
    expect(alert.detail).toMatchObject({ kind: 'listen', local_port: port, pid: process.pid });
  });

  it('takes a rules update without restart, and goes quiet with no rules', async () => {
    const first = await listen('127.0.0.1');
    const second = await listen('127.0.0.1');
    const s = await start(rule('NETWORK', String(first)));
    await s.update([rule('NETWORK', String(second)), rule('FILE', '/etc/passwd')]);
    await dial(first);
    await dial(second);
    await waitFor('second port alerts', () => rec.matching({ remote_port: second })[0]);
    await settle(300);
    expect(
      rec.alerts.every((a) => a.detail.remote_port === second || a.detail.local_port === second),
    ).toBe(true);

    const count = rec.alerts.length;
    await s.update([]);
    await dial(second);
    await settle(300);
    expect(rec.alerts).toHaveLength(count);
  });
});
