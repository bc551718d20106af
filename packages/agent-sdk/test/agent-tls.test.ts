import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  draft,
  ENROLLMENT_TOKEN,
  startIngest,
  storedAlertIds,
  useAgents,
  useEnvironment,
} from './agent-harness.js';

const env = useEnvironment();
const agents = useAgents();
let dir: string;
const file = (name: string) => join(dir, name);

// A throwaway CA, a server certificate for localhost, and a client certificate, made with openssl.
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tripwire-agent-tls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=tripwire-test-ca',
  );
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:ingest.tripwire.test\n');
  for (const [name, cn, ext] of [
    ['server', 'ingest.tripwire.test', ['-extfile', 'server.ext']],
    ['client', 'agent-01', []],
  ] as const) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      ...ext,
    );
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TLS', () => {
  it('streams over mTLS with the CA, client certificate and key read from files', async () => {
    const ingest = await startIngest(env, {
      GRPC_INSECURE: 'false',
      GRPC_TLS_CERT_FILE: file('server.pem'),
      GRPC_TLS_KEY_FILE: file('server.key'),
      GRPC_TLS_CLIENT_CA_FILE: file('ca.pem'),
    });
    try {
      const client = agents.create({
        server: ingest.address,
        stateDir: await agents.stateDir(),
        enrollmentToken: ENROLLMENT_TOKEN,
        hostname: 'sdk-mtls-01',
        tls: {
          caFile: file('ca.pem'),
          certFile: file('client.pem'),
          keyFile: file('client.key'),
          // The certificate names ingest.tripwire.test; the test connects to 127.0.0.1.
          serverNameOverride: 'ingest.tripwire.test',
        },
      });
      await client.start();
      const id = await client.enqueue(draft(1));
      expect(await client.flush(10_000)).toBe(true);
      expect(await storedAlertIds(env, [id])).toEqual([id]);
      await client.stop();

      // Without a client certificate the server refuses the handshake: registration cannot happen.
      const noCert = agents.create({
        server: ingest.address,
        stateDir: await agents.stateDir(),
        enrollmentToken: ENROLLMENT_TOKEN,
        tls: { caFile: file('ca.pem'), serverNameOverride: 'ingest.tripwire.test' },
      });
      await expect(noCert.start()).rejects.toThrow(/cannot register with .*UNAVAILABLE/);
    } finally {
      await ingest.stop();
    }
  });

  it('names the option and the file that cannot be read', async () => {
    const start = (tls: object) =>
      agents
        .create({ server: '127.0.0.1:1', stateDir: join(dir, 'unused'), enrollmentToken: 'x', tls })
        .start();
    await expect(start({ caFile: file('missing-ca.pem') })).rejects.toThrow(
      /tls\.caFile: cannot read .*missing-ca\.pem: ENOENT/,
    );
    await expect(
      start({ caFile: file('ca.pem'), certFile: file('client.pem'), keyFile: file('nope.key') }),
    ).rejects.toThrow(/tls\.keyFile: cannot read .*nope\.key/);
    await expect(start({ certFile: file('client.pem') })).rejects.toThrow(
      /tls\.certFile and tls\.keyFile go together/,
    );
  });
});
