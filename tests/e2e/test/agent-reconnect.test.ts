import { readFile } from 'node:fs/promises';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { AgentClient } from '@tripwire/agent-sdk';
import { AlertServiceClient } from '@tripwire/proto';
import { decideEnrollmentRequest } from '@tripwire/storage';
import { startTcpProxy } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  captureLog,
  draft,
  ENROLLMENT_TOKEN,
  type RunningIngest,
  startIngest,
  storedAlertIds,
  until,
  useAgents,
  useEnvironment,
} from './agent-harness.js';

const env = useEnvironment();
const agents = useAgents();
const backoff = { initialMs: 200, maxMs: 1_000 };
let ingest: RunningIngest;

beforeAll(async () => {
  ingest = await startIngest(env);
});
afterAll(() => ingest?.stop());

/**
 * A relay whose open connections can go silent: bytes are swallowed, nothing
 * is closed, exactly like a NAT entry or a peer that vanished. New
 * connections still work. Only keepalive pings can notice.
 */
async function blackHoleProxy(targetPort: number) {
  const links: Array<{ silent: boolean; sockets: Socket[] }> = [];
  const server = createServer((client) => {
    const upstream = netConnect(targetPort, '127.0.0.1');
    const link = { silent: false, sockets: [client, upstream] };
    links.push(link);
    client.on('data', (d) => link.silent || upstream.write(d));
    upstream.on('data', (d) => link.silent || client.write(d));
    for (const s of link.sockets) {
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    silenceOpenConnections() {
      for (const link of links) link.silent = true;
    },
    close() {
      for (const link of links) for (const s of link.sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Enqueues `total` alerts a few at a time while `during` runs. */
async function produceWhile(client: AgentClient, total: number, during: () => Promise<void>) {
  const ids: string[] = [];
  const producing = (async () => {
    while (ids.length < total) {
      ids.push(
        ...(await Promise.all(Array.from({ length: 25 }, (_, n) => client.enqueue(draft(n))))),
      );
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  await during();
  await producing;
  return ids;
}

const expectExactlyOnce = async (ids: string[]) => {
  const stored = await storedAlertIds(env, ids);
  expect(stored.length).toBe(ids.length);
  expect(new Set(stored)).toEqual(new Set(ids));
};

describe('reconnecting', () => {
  it('ingest stopped and restarted on the same port mid-stream: everything arrives exactly once', async () => {
    let current = await startIngest(env);
    const port = current.grpcPort;
    const client = agents.create({
      server: current.address,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-restart-ingest',
      backoff,
    });
    await client.start();
    await until(() => client.stats().connected);
    try {
      const ids = await produceWhile(client, 1500, async () => {
        await until(() => client.stats().acked >= 200, 10_000, 'some acks');
        await current.stop();
        // Down until the agent has noticed and queued alerts that only the restart can take.
        await until(
          () => !client.stats().connected && client.stats().queued >= 50,
          10_000,
          'alerts queued during the outage',
        );
        current = await startIngest(env, { GRPC_PORT: String(port) });
      });
      expect(await client.flush(30_000)).toBe(true);
      await expectExactlyOnce(ids);
      expect(client.stats().reconnects).toBeGreaterThanOrEqual(1);
      expect(client.stats().connected).toBe(true);
    } finally {
      await client.stop();
      await current.stop();
    }
  });

  it('a cut network ends the same way: reconnect, resend, nothing lost or doubled', async () => {
    const proxy = await startTcpProxy('127.0.0.1', ingest.grpcPort);
    const client = agents.create({
      server: `127.0.0.1:${proxy.port}`,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-cut-01',
      backoff,
    });
    try {
      await client.start();
      const ids = await produceWhile(client, 1000, async () => {
        await until(() => client.stats().acked >= 100, 10_000, 'some acks');
        proxy.cut();
        await until(() => !client.stats().connected, 10_000, 'the agent to notice');
        // Cut until alerts have queued up behind it and the agent has failed to reconnect.
        const reconnects = client.stats().reconnects;
        await until(
          () => client.stats().queued >= 50 && client.stats().reconnects > reconnects,
          10_000,
          'alerts queued and a failed reconnect during the cut',
        );
        proxy.restore();
      });
      expect(await client.flush(30_000)).toBe(true);
      await expectExactlyOnce(ids);
      expect(client.stats().reconnects).toBeGreaterThanOrEqual(1);
    } finally {
      await client.stop();
      await proxy.close();
    }
  });
});

describe('a connection that dies silently', () => {
  it('is noticed by keepalive pings within seconds; then everything is resent', async () => {
    const proxy = await blackHoleProxy(ingest.grpcPort);
    const client = agents.create({
      server: `127.0.0.1:${proxy.port}`,
      stateDir: await agents.stateDir(),
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-blackhole-01',
      backoff,
    });
    try {
      await client.start();
      const before = await Promise.all(
        Array.from({ length: 10 }, (_, n) => client.enqueue(draft(n))),
      );
      expect(await client.flush(10_000)).toBe(true);
      proxy.silenceOpenConnections();
      const during = await Promise.all(
        Array.from({ length: 50 }, (_, n) => client.enqueue(draft(n))),
      );
      // keepalive_time 10 s + keepalive_timeout 5 s, then a fresh connection.
      await until(() => client.stats().reconnects >= 1, 25_000, 'keepalive to end the dead stream');
      expect(await client.flush(15_000)).toBe(true);
      await expectExactlyOnce([...before, ...during]);
    } finally {
      await client.stop();
      await proxy.close();
    }
  }, 45_000);
});

describe('a rejected agent token', () => {
  /**
   * Someone holding the agent's token (read from its state folder) rotates it: the agent's own
   * token is revoked. Re-registering the hostname with only the enrollment token would be refused.
   */
  const registerElsewhere = async (hostname: string, stateDir: string) => {
    const stored = JSON.parse(await readFile(join(stateDir, 'credentials.json'), 'utf8'));
    const raw = new AlertServiceClient(ingest.address, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${stored.agentToken}`);
    return new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
      raw.registerAgent(
        { hostname, platform: 'linux', agentVersion: 'x' },
        metadata,
        (err, res) => {
          raw.close();
          return err ? reject(err) : resolve(res);
        },
      ),
    );
  };

  it('is taken back only once an admin approves the agent; then the outbox is resent', async () => {
    const proxy = await startTcpProxy('127.0.0.1', ingest.grpcPort);
    const stateDir = await agents.stateDir();
    const logs = captureLog('agent');
    const client = agents.create({
      server: `127.0.0.1:${proxy.port}`,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-revoked-01',
      log: logs.log,
      backoff,
    });
    try {
      await client.start();
      const credentialsFile = join(stateDir, 'credentials.json');
      const before = JSON.parse(await readFile(credentialsFile, 'utf8'));
      const first = await client.enqueue(draft(1));
      expect(await client.flush(10_000)).toBe(true);

      const other = await registerElsewhere('sdk-revoked-01', stateDir);
      // The open stream was authenticated when it opened; the next one will not be.
      proxy.cut();
      const queued = await Promise.all(
        Array.from({ length: 30 }, (_, n) => client.enqueue(draft(n))),
      );
      proxy.restore();
      // The agent asks again with its enrollment key: held for an admin, who approves it.
      const pending = () =>
        env.pool.query(
          "SELECT request_id FROM enrollment_requests WHERE hostname = 'sdk-revoked-01' AND state = 'pending'",
        );
      await until(async () => (await pending()).rows.length === 1, 10_000, 'a pending enrollment');
      // The row is written before the answer reaches the agent, which logs it then.
      await until(() => logs.text().includes('ALREADY_EXISTS'), 10_000, 'the agent told to wait');
      expect(client.stats().queued).toBe(30);
      const [{ request_id: requestId }] = (await pending()).rows;
      await decideEnrollmentRequest(env.pool, requestId, 'approved', 'operator:test', 600);
      expect(await client.flush(20_000)).toBe(true);
      await expectExactlyOnce([first, ...queued]);

      const after = JSON.parse(await readFile(credentialsFile, 'utf8'));
      expect(after.hostId).toBe(before.hostId); // same hostname, same host
      expect(after.agentToken).not.toBe(before.agentToken);
      expect(after.agentToken).not.toBe(other.agentToken);
      expect(logs.text()).toContain('the server rejected the agent token; registering again');
      const alert = await env.pool.query(
        "SELECT 1 FROM alerts WHERE alert_id = $1 AND rule_name = 'tripwire.re-enrollment'",
        [requestId],
      );
      expect(alert.rows).toHaveLength(1);
      for (const secret of [before.agentToken, after.agentToken, ENROLLMENT_TOKEN])
        expect(logs.text()).not.toContain(secret);
    } finally {
      await client.stop();
      await proxy.close();
    }
  });

  it('when the host was deleted, registers as a new host and sends the queued alerts under its new id', async () => {
    const stateDir = await agents.stateDir();
    const setup = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-deleted-01',
    });
    await setup.start();
    const oldHostId = setup.hostId;
    await setup.stop();
    await env.pool.query('DELETE FROM hosts WHERE host_id = $1', [oldHostId]);

    const client = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-deleted-01',
      backoff,
    });
    await client.start();
    const ids = await Promise.all(Array.from({ length: 10 }, (_, n) => client.enqueue(draft(n))));
    expect(await client.flush(10_000)).toBe(true);
    expect(client.hostId).not.toBe(oldHostId);
    const { rows } = await env.pool.query(
      'SELECT DISTINCT host_id FROM alerts WHERE alert_id = ANY($1::uuid[])',
      [ids],
    );
    expect(rows).toEqual([{ host_id: client.hostId }]);
  });

  it('without an enrollment token: says so and keeps trying, sending nothing', async () => {
    const stateDir = await agents.stateDir();
    const setup = agents.create({
      server: ingest.address,
      stateDir,
      enrollmentToken: ENROLLMENT_TOKEN,
      hostname: 'sdk-stuck-01',
    });
    await setup.start();
    await setup.stop();
    await registerElsewhere('sdk-stuck-01', stateDir);

    const logs = captureLog('agent');
    const client = agents.create({ server: ingest.address, stateDir, log: logs.log, backoff });
    await client.start();
    await client.enqueue(draft(1));
    await until(() => client.stats().reconnects >= 2, 10_000, 'retries');
    expect(logs.text()).toContain('no enrollment token is configured');
    expect(client.stats()).toMatchObject({ queued: 1, acked: 0, connected: false });
  });
});
