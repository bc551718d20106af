import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, register, startIngest, useEnvironment } from './ingest-harness.js';

const env = useEnvironment();
let dir: string;
const pem = (name: string) => readFileSync(join(dir, name));

// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tripwire-tls-'));
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
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, cn, ext] of [
    ['server', 'localhost', ['-extfile', 'server.ext']],
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

  it('names the variable when a certificate file cannot be read', async () => {
    await expect(
      startIngest(env, { ...tlsEnv(), GRPC_TLS_CERT_FILE: join(dir, 'missing.pem') }),
    ).rejects.toThrow(/GRPC_TLS_CERT_FILE: cannot read .*missing\.pem/);
  });
});
