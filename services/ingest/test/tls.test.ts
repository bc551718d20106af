import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { makeTestCertificates, type TestCertificates } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, register, startIngest, useEnvironment } from './ingest-harness.js';

const env = useEnvironment();
let dir: string;
const pem = (name: string) => readFileSync(join(dir, name));

let certs: TestCertificates;
beforeAll(() => {
  certs = makeTestCertificates(['IP:127.0.0.1', 'DNS:localhost']);
  dir = certs.dir;
});
afterAll(() => certs.remove());

const tlsEnv = () => ({
  GRPC_INSECURE: 'false',
  GRPC_TLS_CERT_FILE: join(dir, 'server.pem'),
  GRPC_TLS_KEY_FILE: join(dir, 'server.key'),
});

describe('TLS', () => {
  it('serves agents over TLS and refuses plaintext clients', async () => {
    const ingest = await startIngest(env, tlsEnv());
    try {
      const tls = connect(ingest.address, credentials.createSsl(pem('ca.pem')));
      expect((await register(tls, 'tls-host')).hostId).toMatch(/^[0-9a-f-]{36}$/);
      tls.close();
      const plain = connect(ingest.address, credentials.createInsecure(), {
        'grpc.initial_reconnect_backoff_ms': 100,
      });
      await expect(
        Promise.race([
          register(plain, 'plain-host'),
          new Promise((_, r) => setTimeout(() => r(new Error('timeout')), 5_000)),
        ]),
      ).rejects.toMatchObject({ code: status.UNAVAILABLE });
      plain.close();
    } finally {
      await ingest.stop();
    }
  });

  it('with a client CA (mTLS), accepts only clients presenting a certificate it signed', async () => {
    const ingest = await startIngest(env, {
      ...tlsEnv(),
      GRPC_TLS_CLIENT_CA_FILE: join(dir, 'ca.pem'),
    });
    try {
      const withCert = connect(
        ingest.address,
        credentials.createSsl(pem('ca.pem'), pem('client.key'), pem('client.pem')),
      );
      expect((await register(withCert, 'mtls-host')).hostId).toMatch(/^[0-9a-f-]{36}$/);
      withCert.close();
      const withoutCert = connect(ingest.address, credentials.createSsl(pem('ca.pem')));
      await expect(register(withoutCert, 'no-cert-host')).rejects.toMatchObject({
        code: status.UNAVAILABLE,
      });
      withoutCert.close();
      const { rows } = await env.pool.query("SELECT 1 FROM hosts WHERE hostname = 'no-cert-host'");
      expect(rows).toHaveLength(0);
    } finally {
      await ingest.stop();
    }
  });

  it('with mTLS, re-enrolls a host whose client certificate names it, and raises an alert', async () => {
    const ingest = await startIngest(env, {
      ...tlsEnv(),
      GRPC_TLS_CLIENT_CA_FILE: join(dir, 'ca.pem'),
    });
    try {
      const mtls = connect(
        ingest.address,
        credentials.createSsl(pem('ca.pem'), pem('client.key'), pem('client.pem')),
      );
      // The test client certificate's CN is tripwire-test-client.
      const first = await register(mtls, 'tripwire-test-client');
      const second = await register(mtls, 'tripwire-test-client');
      expect(second.hostId).toBe(first.hostId);
      expect(second.agentToken).not.toBe(first.agentToken);
      const { rows } = await env.pool.query(
        "SELECT severity, tripwire_type, event_detail FROM alerts WHERE host_id = $1 AND rule_name = 'tripwire.re-enrollment'",
        [first.hostId],
      );
      expect(rows).toEqual([
        expect.objectContaining({
          severity: 'CRITICAL',
          tripwire_type: 'PROCESS',
          event_detail: expect.objectContaining({
            method: 'certificate',
            certificate_subject: 'tripwire-test-client',
          }),
        }),
      ]);
      // The certificate does not name this host: no takeover.
      await register(mtls, 'mtls-other-host');
      await expect(register(mtls, 'mtls-other-host')).rejects.toMatchObject({
        code: status.ALREADY_EXISTS,
      });
      mtls.close();
    } finally {
      await ingest.stop();
    }
  });

  it('names the variable when a certificate file cannot be read', async () => {
    await expect(
      startIngest(env, { ...tlsEnv(), GRPC_TLS_CERT_FILE: join(dir, 'missing.pem') }),
    ).rejects.toThrow(/GRPC_TLS_CERT_FILE: cannot read .*missing\.pem/);
  });
});
