// The dashboard's browser tests run the real services: the fan-out service as a child process
// (so a test can restart it), the ingest service in-process, real PostgreSQL and Redis, a gRPC
// test agent, and Debian's Chromium driven by playwright-core.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Metadata } from '@grpc/grpc-js';
import {
  type AgentEvent,
  type AlertServiceClient,
  type ServerCommand,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { type Browser, chromium, type Page } from 'playwright-core';
import { until } from '../fanout-harness.js';

export { FanoutProcess } from '../../src/testing/fanout-process.js';
export { ENROLLMENT_TOKEN, startIngest } from '../fanout-harness.js';

const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-output/screenshots', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const bearer = (token: string) => {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
};

/** A tripwire agent on the real gRPC API: registers, then streams alerts in batches. */
export class TestAgent {
  hostId = '';
  readonly acked = new Set<string>();
  private stream: ReturnType<AlertServiceClient['streamAlertBatches']> | null = null;

  constructor(
    private readonly client: AlertServiceClient,
    readonly hostname: string,
  ) {}

  async connect(enrollmentToken: string) {
    const reg = await new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
      this.client.registerAgent(
        { hostname: this.hostname, platform: 'linux', agentVersion: '1.4.2' },
        bearer(enrollmentToken),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    this.hostId = reg.hostId;
    this.stream = this.client.streamAlertBatches(bearer(reg.agentToken));
    this.stream.on('data', (c: ServerCommand) => {
      if (c.command?.$case === 'ack') for (const id of c.command.ack.alertIds) this.acked.add(id);
    });
    this.stream.on('error', () => {});
  }

  event(over: { severity?: Severity; type?: TripwireType; rule?: string; detail?: object } = {}) {
    return {
      alertId: randomUUID(),
      hostId: this.hostId,
      tripwireType: over.type ?? TripwireType.FILE,
      severity: over.severity ?? Severity.CRITICAL,
      timestampUs: Date.now() * 1000,
      ruleName: over.rule ?? 'etc-passwd-watch',
      eventDetailJson: JSON.stringify(
        over.detail ?? {
          path: '/etc/passwd',
          old_sha256: 'ab12',
          new_sha256: 'cd34',
          mode: '0644',
        },
      ),
    } satisfies AgentEvent;
  }

  /** Sends and waits until the ingest service acknowledged every one (durable in PostgreSQL). */
  async send(events: AgentEvent[]) {
    this.stream!.write({ events });
    await until(() => events.every((e) => this.acked.has(e.alertId)), 10_000, 'acks');
    return events.map((e) => e.alertId);
  }

  close() {
    this.stream?.end();
  }
}

/** Debian's Chromium, headless, with the flags this network-less machine needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/** Saves what the page shows for a person to look at, and says where. */
export async function screenshot(page: Page, name: string) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = `${SCREENSHOT_DIR}/${name}.png`;
  await page.screenshot({ path });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Signs in through the form, as an operator would. */
export async function signIn(page: Page, baseUrl: string, token: string, path = '/') {
  await page.goto(`${baseUrl}${path}`);
  await page.getByLabel('Operator token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('operator').waitFor();
}
