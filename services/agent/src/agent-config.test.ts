import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadAgentConfig } from './agent-config.js';

const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('agent configuration', () => {
  it('takes flags over the environment over an env file over a config file', () => {
    const config = loadAgentConfig(
      {
        config: file(
          'agent.yaml',
          'server: a.example:1\nstate_dir: /from/config\nprocess-poll: 500\n',
        ),
        'env-file': file(
          'agent.env',
          'TRIPWIRE_STATE_DIR=/from/env-file\nTRIPWIRE_HOSTNAME=web-01\n',
        ),
        'tls-ca': '/etc/tw/ca.pem',
      },
      { TRIPWIRE_HOSTNAME: 'web-02' },
    );
    expect(config).toMatchObject({
      TRIPWIRE_SERVER: 'a.example:1',
      TRIPWIRE_STATE_DIR: '/from/env-file',
      TRIPWIRE_HOSTNAME: 'web-02',
      TRIPWIRE_PROCESS_POLL_MS: 500,
      TRIPWIRE_TLS_CA: '/etc/tw/ca.pem',
      TRIPWIRE_INSECURE: false,
    });
  });

  it('bounds what the agent reads and sends: command-line cut, detail clip, dead-letter cap (issue 13)', () => {
    const defaults = loadAgentConfig({ server: 'a:1', insecure: true }, {});
    expect(defaults).toMatchObject({
      TRIPWIRE_CMDLINE_MAX_BYTES: 4096,
      TRIPWIRE_DETAIL_MAX_BYTES: 61_440,
      TRIPWIRE_DEAD_LETTER_MAX_MB: 16,
    });
    const set = loadAgentConfig(
      { server: 'a:1', insecure: true, 'cmdline-max-bytes': '8192' },
      { TRIPWIRE_DETAIL_MAX_BYTES: '30000', TRIPWIRE_DEAD_LETTER_MAX_MB: '2' },
    );
    expect(set).toMatchObject({
      TRIPWIRE_CMDLINE_MAX_BYTES: 8192,
      TRIPWIRE_DETAIL_MAX_BYTES: 30_000,
      TRIPWIRE_DEAD_LETTER_MAX_MB: 2,
    });
    expect(() =>
      loadAgentConfig(
        { server: 'a:1', insecure: true, 'cmdline-max-bytes': '10', 'detail-max-bytes': '99' },
        {},
      ),
    ).toThrow(
      /--cmdline-max-bytes \(TRIPWIRE_CMDLINE_MAX_BYTES\): must be at least 256[\s\S]*--detail-max-bytes/,
    );
  });

  it('names every bad setting by flag and variable at once', () => {
    let message = '';
    try {
      loadAgentConfig({ server: 'no-port', 'tls-cert': '/c.pem', 'network-poll': '5' }, {});
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain('--server (TRIPWIRE_SERVER): must be HOST:PORT');
    expect(message).toContain('--tls-ca (TRIPWIRE_TLS_CA): is required for TLS; or set --insecure');
    expect(message).toContain('--tls-key (TRIPWIRE_TLS_KEY): mTLS needs both');
    expect(message).toContain('--network-poll (TRIPWIRE_NETWORK_POLL_MS): must be at least 100');
  });

  it('takes a comma list of ingest addresses to fail over between, and refuses a bad entry', () => {
    const ok = loadAgentConfig(
      { server: 'ingest-a:50051,10.0.0.2:50051,[::1]:50051', insecure: true },
      {},
    );
    expect(ok.TRIPWIRE_SERVER).toBe('ingest-a:50051,10.0.0.2:50051,[::1]:50051');
    for (const bad of ['ingest-a:50051,', 'ingest-a:50051,no-port', 'a:1, b:2']) {
      expect(() => loadAgentConfig({ server: bad, insecure: true }, {})).toThrow(
        /--server \(TRIPWIRE_SERVER\): must be HOST:PORT or a comma list/,
      );
    }
  });

  it('takes the enrollment token from a file or the environment, not both; the lock staleness bounded (issue 14)', () => {
    const fromFile = loadAgentConfig(
      { server: 'a:1', insecure: true, 'enroll-token-file': '/etc/tw/token' },
      {},
    );
    expect(fromFile).toMatchObject({
      TRIPWIRE_ENROLL_TOKEN_FILE: '/etc/tw/token',
      TRIPWIRE_LOCK_STALE_S: 10,
    });
    expect(
      loadAgentConfig({ server: 'a:1', insecure: true }, { TRIPWIRE_ENROLL_TOKEN: 'tok' })
        .TRIPWIRE_ENROLL_TOKEN,
    ).toBe('tok');
    expect(() =>
      loadAgentConfig(
        { server: 'a:1', insecure: true, 'enroll-token-file': '/etc/tw/token', 'lock-stale': '1' },
        { TRIPWIRE_ENROLL_TOKEN: 'tok' },
      ),
    ).toThrow(
      /--lock-stale \(TRIPWIRE_LOCK_STALE_S\): must be at least 2[\s\S]*--enroll-token \(TRIPWIRE_ENROLL_TOKEN\): give the enrollment token once/,
    );
  });

  it('refuses an unknown key in a config file, and a missing file', () => {
    expect(() => loadAgentConfig({ config: file('bad.yaml', 'sever: x:1\n') }, {})).toThrow(
      /unknown setting "sever"/,
    );
    expect(() => loadAgentConfig({ 'env-file': join(dir, 'missing.env') }, {})).toThrow(
      /cannot read the env file/,
    );
  });

  it('runs no response action unless configured, and checks the task settings together (issue 16)', () => {
    const base = { server: 'a:1', insecure: true };
    expect(loadAgentConfig(base, {})).toMatchObject({
      TRIPWIRE_TASK_ACTIONS: [],
      TRIPWIRE_TASK_SHELL_UNRESTRICTED: false,
      TRIPWIRE_TASK_TIMEOUT_S: 60,
      TRIPWIRE_TASK_OUTPUT_MAX_BYTES: 1024 * 1024,
    });
    expect(
      loadAgentConfig(
        { ...configFileFlag('task_actions: "file_hash, kill_process"\n') },
        { TRIPWIRE_SERVER: 'a:1', TRIPWIRE_INSECURE: 'true' },
      ).TRIPWIRE_TASK_ACTIONS,
    ).toEqual(['file_hash', 'kill_process']);
    expect(() => loadAgentConfig({ ...base, 'task-actions': 'file_hash,rm_rf' }, {})).toThrow(
      /--task-actions \(TRIPWIRE_TASK_ACTIONS\): unknown action rm_rf/,
    );
    expect(() => loadAgentConfig({ ...base, 'task-actions': 'shell_execute' }, {})).toThrow(
      /--task-shell-allow-file \(TRIPWIRE_TASK_SHELL_ALLOW_FILE\): shell_execute needs/,
    );
    expect(() =>
      loadAgentConfig({ ...base, 'task-timeout': '600', 'task-max-timeout': '60' }, {}),
    ).toThrow(
      /--task-timeout \(TRIPWIRE_TASK_TIMEOUT_S\): must not be more than --task-max-timeout/,
    );
  });
});

function configFileFlag(yaml: string) {
  return { config: file('tasks.yaml', yaml) };
}
