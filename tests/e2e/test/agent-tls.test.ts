import { join } from 'node:path';
import { makeTestCertificates, type TestCertificates } from '@tripwire/test-fixtures';
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

let certs: TestCertificates;
beforeAll(() => {
  certs = makeTestCertificates(['DNS:ingest.tripwire.test']);
  dir = certs.dir;
});
afterAll(() => certs.remove());

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
