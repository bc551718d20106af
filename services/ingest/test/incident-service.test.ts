import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { createOperatorAuth } from '@tripwire/operator-auth';
import {
  IncidentEventType,
  IncidentState,
  ResolutionMethod,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import { queryAuditEntries } from '@tripwire/storage';
import { proxyFor } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  failure,
  IncidentWatcher,
  incidentCalls,
  OPERATOR_JWT_SECRET,
  operatorAuth,
} from './incident-client.js';
import {
  AgentSession,
  busReader,
  connect,
  event,
  type RunningIngest,
  register,
  startIngest,
  until,
  useEnvironment,
} from './ingest-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let admin: ReturnType<typeof incidentCalls>;
let viewer: ReturnType<typeof incidentCalls>;
let adminToken: string;
let viewerToken: string;

beforeAll(async () => {
  ingest = await startIngest(env, { OPERATOR_JWT_SECRET, BATCH_MAX_SIZE: '50' });
  adminToken = await operatorAuth.issue('alice', 'admin');
  viewerToken = await operatorAuth.issue('victor', 'viewer');
  admin = incidentCalls(ingest.address, adminToken);
  viewer = incidentCalls(ingest.address, viewerToken);
});
afterAll(async () => {
  admin?.close();
  viewer?.close();
  await ingest?.stop();
});

/** A registered host (an agent enrolled through AlertService). */
async function newHost(prefix = 'host') {
  const client = connect(ingest.address);
  try {
    const hostname = `${prefix}-${randomUUID().slice(0, 8)}`;
    const agent = await register(client, hostname);
    return { hostId: agent.hostId, hostname, agentToken: agent.agentToken };
  } finally {
    client.close();
  }
}

/** Sends `count` alerts of one rule from a test agent; the one at `criticalAt` is CRITICAL. */
async function storm(host: { hostId: string; agentToken: string }, count: number, criticalAt = -1) {
  const client = connect(ingest.address);
  try {
    const session = new AgentSession(client, host.agentToken, true);
    const events = Array.from({ length: count }, (_, i) =>
      event(host.hostId, {
        ruleName: 'storm-rule',
        severity: i === criticalAt ? Severity.CRITICAL : Severity.INFO,
      }),
    );
    for (let i = 0; i < events.length; i += 25) session.send(events.slice(i, i + 25));
    await session.waitForAcks(events.map((e) => e.alertId));
    session.end();
    return events;
  } finally {
    client.close();
  }
}

const openIncident = (
  hostId: string,
  over: Partial<{ tripwireType: TripwireType; severity: Severity; ruleName: string }> = {},
) =>
  admin
    .create({
      hostId,
      tripwireType: TripwireType.FILE,
      severity: Severity.WARN,
      ruleName: `rule-${randomUUID().slice(0, 6)}`,
      ...over,
    })
    .then((r) => r.incident!);

/** StreamIncidents calls that got past auth, validation and the snapshot. */
async function streamsOpened(): Promise<number> {
  const metric = await ingest.server.metrics.incidentRequests.get();
  return metric.values
    .filter((v) => v.labels.method === 'StreamIncidents' && v.labels.code === 'OK')
    .reduce((n, v) => n + v.value, 0);
}

async function watch(req: ConstructorParameters<typeof IncidentWatcher>[2], token = viewerToken) {
  const before = await streamsOpened();
  const watcher = new IncidentWatcher(viewer, token, req);
  await until(async () => (await streamsOpened()) > before, 5_000, 'the stream to open');
  return watcher;
}

describe('IncidentService: reading', () => {
  it('creates, gets and lists incidents filtered by state, severity and host, with paging and total_count', async () => {
    const a = await newHost();
    const b = await newHost();
    const critical = await openIncident(a.hostId, {
      severity: Severity.CRITICAL,
      tripwireType: TripwireType.NETWORK,
    });
    const warn = await openIncident(a.hostId, { severity: Severity.WARN });
    const info = await openIncident(a.hostId, { severity: Severity.INFO });
    await openIncident(b.hostId);
    expect(critical).toMatchObject({
      hostId: a.hostId,
      hostname: a.hostname,
      state: IncidentState.OPEN,
      maxSeverity: Severity.CRITICAL,
      tripwireType: TripwireType.NETWORK,
      alertCount: 0,
      createdBy: 'operator:alice',
      assignee: '',
    });
    expect((await viewer.get({ incidentId: warn.incidentId })).incident).toEqual(warn);

    const all = await viewer.list({ hostId: a.hostId });
    expect(all.totalCount).toBe(3);
    expect(all.incidents.map((i) => i.incidentId)).toEqual([
      critical.incidentId,
      warn.incidentId,
      info.incidentId,
    ]);
    expect(all.nextPageToken).toBe('');

    const bySeverity = await viewer.list({ hostId: a.hostId, severities: [Severity.CRITICAL] });
    expect(bySeverity.incidents.map((i) => i.incidentId)).toEqual([critical.incidentId]);

    await admin.update({ incidentId: info.incidentId, state: IncidentState.ACKNOWLEDGED });
    const byState = await viewer.list({ hostId: a.hostId, states: [IncidentState.ACKNOWLEDGED] });
    expect(byState).toMatchObject({ totalCount: 1 });
    expect(byState.incidents.map((i) => i.incidentId)).toEqual([info.incidentId]);

    const first = await viewer.list({ hostId: a.hostId, pageSize: 2 });
    expect(first).toMatchObject({ totalCount: 3, nextPageToken: '2' });
    expect(first.incidents).toHaveLength(2);
    const second = await viewer.list({ hostId: a.hostId, pageSize: 2, pageToken: '2' });
    expect(second).toMatchObject({ totalCount: 3, nextPageToken: '' });
    expect([...first.incidents, ...second.incidents].map((i) => i.incidentId)).toEqual(
      all.incidents.map((i) => i.incidentId),
    );
  });

  it("lists an incident's raw alerts newest first, filtered by severity, paged", async () => {
    const host = await newHost('alerts');
    const events = await storm(host, 30, 7);
    const { incidents } = await viewer.list({ hostId: host.hostId });
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ alertCount: 30, maxSeverity: Severity.CRITICAL });
    const incidentId = incidents[0]!.incidentId;

    const page = await viewer.listAlerts({ incidentId, pageSize: 10 });
    expect(page).toMatchObject({ totalCount: 30, nextPageToken: '10' });
    const received = page.alerts.map((a) => a.receivedAt!.getTime());
    expect(received).toEqual([...received].sort((x, y) => y - x));
    const rest = await viewer.listAlerts({ incidentId, pageSize: 100, pageToken: '10' });
    expect(rest).toMatchObject({ totalCount: 30, nextPageToken: '' });
    expect(new Set([...page.alerts, ...rest.alerts].map((a) => a.alertId))).toEqual(
      new Set(events.map((e) => e.alertId)),
    );

    const critical = await viewer.listAlerts({ incidentId, severities: [Severity.CRITICAL] });
    expect(critical.totalCount).toBe(1);
    expect(critical.alerts[0]).toMatchObject({
      alertId: events[7]!.alertId,
      severity: Severity.CRITICAL,
      ruleName: 'storm-rule',
    });
    expect(JSON.parse(critical.alerts[0]!.eventDetailJson)).toEqual({
      path: '/etc/passwd',
      pid: 1234,
    });
  });
});

describe('IncidentService: changes', () => {
  it('acknowledges with a note, assigns, undoes, resolves; every change is audited with the actor', async () => {
    const host = await newHost('life');
    const created = await openIncident(host.hostId);
    const acked = (
      await admin.update({
        incidentId: created.incidentId,
        state: IncidentState.ACKNOWLEDGED,
        note: 'looking into it',
      })
    ).incident!;
    expect(acked).toMatchObject({
      state: IncidentState.ACKNOWLEDGED,
      version: created.version + 1,
    });
    expect(acked.notes).toMatchObject([{ author: 'operator:alice', text: 'looking into it' }]);
    const assigned = (await admin.update({ incidentId: created.incidentId, assignee: 'bob' }))
      .incident!;
    expect(assigned).toMatchObject({ assignee: 'bob', state: IncidentState.ACKNOWLEDGED });
    const unassigned = (await admin.update({ incidentId: created.incidentId, assignee: '' }))
      .incident!;
    expect(unassigned.assignee).toBe('');
    const reopened = (
      await admin.update({ incidentId: created.incidentId, state: IncidentState.OPEN })
    ).incident!;
    expect(reopened.state).toBe(IncidentState.OPEN);
    const resolved = (
      await admin.resolve({
        incidentId: created.incidentId,
        resolutionMethod: ResolutionMethod.PLAYBOOK,
        rootCause: 'config management touched the file',
        note: 'closing',
      })
    ).incident!;
    expect(resolved).toMatchObject({
      state: IncidentState.RESOLVED,
      resolutionMethod: ResolutionMethod.PLAYBOOK,
      rootCause: 'config management touched the file',
    });
    expect(resolved.resolvedAt).toBeInstanceOf(Date);
    expect(resolved.notes.map((n) => n.text)).toEqual(['looking into it', 'closing']);

    const other = await openIncident(host.hostId);
    const falsePositive = (
      await admin.resolve({
        incidentId: other.incidentId,
        falsePositive: true,
        resolutionMethod: ResolutionMethod.MANUAL,
        rootCause: 'a test run',
      })
    ).incident!;
    expect(falsePositive.state).toBe(IncidentState.FALSE_POSITIVE);

    const audit = await queryAuditEntries(env.pool, {
      from: new Date(Date.now() - 60_000),
      to: new Date(Date.now() + 60_000),
      hostId: host.hostId,
    });
    const trail = audit
      .filter((e) => e.action.startsWith('incident.'))
      .map((e) => [e.target, e.action, e.actor, e.details.from ?? null, e.details.to ?? null]);
    const a = created.incidentId;
    const b = other.incidentId;
    expect(trail).toEqual([
      [a, 'incident.create', 'operator:alice', null, null],
      [a, 'incident.transition', 'operator:alice', 'OPEN', 'ACKNOWLEDGED'],
      [a, 'incident.update', 'operator:alice', null, null],
      [a, 'incident.update', 'operator:alice', null, null],
      [a, 'incident.transition', 'operator:alice', 'ACKNOWLEDGED', 'OPEN'],
      [a, 'incident.transition', 'operator:alice', 'OPEN', 'RESOLVED'],
      [b, 'incident.create', 'operator:alice', null, null],
      [b, 'incident.transition', 'operator:alice', 'OPEN', 'FALSE_POSITIVE'],
    ]);
  });

  it('refuses every transition the lifecycle does not allow with FAILED_PRECONDITION, naming the allowed states', async () => {
    const host = await newHost('refuse');
    const open = await openIncident(host.hostId);
    const acked = await openIncident(host.hostId);
    await admin.update({ incidentId: acked.incidentId, state: IncidentState.ACKNOWLEDGED });
    const resolved = await openIncident(host.hostId);
    await admin.resolve({
      incidentId: resolved.incidentId,
      resolutionMethod: ResolutionMethod.MANUAL,
      rootCause: 'fixed',
    });
    const falsePositive = await openIncident(host.hostId);
    await admin.resolve({
      incidentId: falsePositive.incidentId,
      falsePositive: true,
      resolutionMethod: ResolutionMethod.MANUAL,
      rootCause: 'noise',
    });

    const refusals: Array<[string, () => Promise<unknown>, RegExp]> = [
      [
        'OPEN → OPEN',
        () => admin.update({ incidentId: open.incidentId, state: IncidentState.OPEN }),
        /from OPEN it can go to ACKNOWLEDGED, RESOLVED, FALSE_POSITIVE/,
      ],
      [
        'ACKNOWLEDGED → ACKNOWLEDGED',
        () => admin.update({ incidentId: acked.incidentId, state: IncidentState.ACKNOWLEDGED }),
        /from ACKNOWLEDGED it can go to OPEN, RESOLVED, FALSE_POSITIVE/,
      ],
    ];
    for (const final of [resolved, falsePositive]) {
      const name = final === resolved ? 'RESOLVED' : 'FALSE_POSITIVE';
      const finalMessage = new RegExp(`${name} is final`);
      refusals.push(
        [
          `${name} → OPEN`,
          () => admin.update({ incidentId: final.incidentId, state: IncidentState.OPEN }),
          finalMessage,
        ],
        [
          `${name} → ACKNOWLEDGED`,
          () => admin.update({ incidentId: final.incidentId, state: IncidentState.ACKNOWLEDGED }),
          finalMessage,
        ],
        [
          `${name} → RESOLVED`,
          () =>
            admin.resolve({
              incidentId: final.incidentId,
              resolutionMethod: ResolutionMethod.MANUAL,
              rootCause: 'again',
            }),
          finalMessage,
        ],
        [
          `${name} → FALSE_POSITIVE`,
          () =>
            admin.resolve({
              incidentId: final.incidentId,
              falsePositive: true,
              resolutionMethod: ResolutionMethod.MANUAL,
              rootCause: 'again',
            }),
          finalMessage,
        ],
      );
    }
    for (const [transition, call, message] of refusals) {
      const refused = await failure(call);
      expect({ transition, code: status[refused.code] }).toEqual({
        transition,
        code: 'FAILED_PRECONDITION',
      });
      expect(refused.details).toMatch(message);
    }
    // Nothing changed: each incident is still at the version it had.
    const after = await viewer.list({ hostId: host.hostId });
    expect(Object.fromEntries(after.incidents.map((i) => [i.incidentId, i.version]))).toEqual({
      [open.incidentId]: 1,
      [acked.incidentId]: 2,
      [resolved.incidentId]: 2,
      [falsePositive.incidentId]: 2,
    });
  });

  it('answers ABORTED for a stale expected_version and applies a current one', async () => {
    const host = await newHost('stale');
    const incident = await openIncident(host.hostId);
    await admin.update({ incidentId: incident.incidentId, note: 'first' });
    const stale = await failure(() =>
      admin.update({ incidentId: incident.incidentId, note: 'second', expectedVersion: 1 }),
    );
    expect(status[stale.code]).toBe('ABORTED');
    expect(stale.details).toMatch(/at version 2, not 1/);
    const fresh = await admin.update({
      incidentId: incident.incidentId,
      note: 'second',
      expectedVersion: 2,
    });
    expect(fresh.incident!.version).toBe(3);
  });
});

describe('IncidentService: refusals', () => {
  it('answers INVALID_ARGUMENT naming the bad field', async () => {
    const host = await newHost('invalid');
    const incident = await openIncident(host.hostId);
    const id = incident.incidentId;
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => viewer.get({ incidentId: 'nope' }), /incident_id must be a UUID/],
      [() => viewer.get({}), /incident_id is required/],
      [() => admin.create({ tripwireType: TripwireType.FILE, severity: Severity.INFO }), /host_id/],
      [
        () =>
          admin.create({
            hostId: randomUUID(),
            tripwireType: TripwireType.FILE,
            severity: Severity.INFO,
          }),
        /host_id .* is not a registered host/,
      ],
      [
        () => admin.create({ hostId: host.hostId, severity: Severity.INFO }),
        /tripwire_type must be/,
      ],
      [
        () => admin.create({ hostId: host.hostId, tripwireType: TripwireType.FILE }),
        /severity must be/,
      ],
      [() => viewer.list({ pageToken: 'abc' }), /page_token/],
      [() => viewer.list({ pageToken: '-1' }), /page_token/],
      [() => viewer.list({ pageSize: 501 }), /page_size must be from 1 to 500/],
      [() => viewer.list({ hostId: 'web-01' }), /host_id must be a UUID/],
      [() => viewer.list({ states: [IncidentState.OPEN, 99 as IncidentState] }), /states\[1\]/],
      [
        () => viewer.listAlerts({ incidentId: id, pageSize: 1001 }),
        /page_size must be from 1 to 1000/,
      ],
      [
        () => admin.update({ incidentId: id, state: IncidentState.RESOLVED }),
        /state RESOLVED is set with ResolveIncident/,
      ],
      [
        () => admin.update({ incidentId: id, state: IncidentState.FALSE_POSITIVE }),
        /state FALSE_POSITIVE is set with ResolveIncident/,
      ],
      [() => admin.update({ incidentId: id }), /nothing to change/],
      [() => admin.resolve({ incidentId: id, rootCause: 'x' }), /resolution_method is required/],
      [
        () => admin.resolve({ incidentId: id, resolutionMethod: ResolutionMethod.MANUAL }),
        /root_cause is required/,
      ],
    ];
    for (const [call, message] of cases) {
      const refused = await failure(call);
      expect({ code: status[refused.code], details: refused.details }).toEqual({
        code: 'INVALID_ARGUMENT',
        details: expect.stringMatching(message),
      });
    }
    expect((await viewer.get({ incidentId: id })).incident!.version).toBe(1);
  });

  it('answers NOT_FOUND for an unknown incident', async () => {
    const unknown = randomUUID();
    for (const call of [
      () => viewer.get({ incidentId: unknown }),
      () => viewer.listAlerts({ incidentId: unknown }),
      () => admin.update({ incidentId: unknown, note: 'x' }),
      () =>
        admin.resolve({
          incidentId: unknown,
          resolutionMethod: ResolutionMethod.MANUAL,
          rootCause: 'x',
        }),
    ]) {
      const refused = await failure(call);
      expect({ code: status[refused.code], details: refused.details }).toEqual({
        code: 'NOT_FOUND',
        details: `no incident ${unknown}`,
      });
    }
  });

  it('answers UNAUTHENTICATED without a valid token and PERMISSION_DENIED to a viewer changing something', async () => {
    const host = await newHost('auth');
    const incident = await openIncident(host.hostId);
    const expired = await operatorAuth.issue('old', 'admin', '-1m');
    const forged = await createOperatorAuth('another-secret-of-at-least-32-chars!').issue(
      'mallory',
      'admin',
    );
    for (const [token, message] of [
      [null, /missing "authorization: Bearer <token>"/],
      ['not-a-jwt', /token is not valid/],
      [forged, /token is not valid/],
      [expired, /token expired/],
    ] as const) {
      const calls = incidentCalls(ingest.address, token);
      try {
        for (const call of [
          () => calls.get({ incidentId: incident.incidentId }),
          () => calls.update({ incidentId: incident.incidentId, note: 'x' }),
        ]) {
          const refused = await failure(call);
          expect({ code: status[refused.code], details: refused.details }).toEqual({
            code: 'UNAUTHENTICATED',
            details: expect.stringMatching(message),
          });
        }
      } finally {
        calls.close();
      }
    }
    for (const call of [
      () =>
        viewer.create({
          hostId: host.hostId,
          tripwireType: TripwireType.FILE,
          severity: Severity.INFO,
        }),
      () => viewer.update({ incidentId: incident.incidentId, state: IncidentState.ACKNOWLEDGED }),
      () =>
        viewer.resolve({
          incidentId: incident.incidentId,
          resolutionMethod: ResolutionMethod.MANUAL,
          rootCause: 'x',
        }),
    ]) {
      const refused = await failure(call);
      expect({ code: status[refused.code], details: refused.details }).toEqual({
        code: 'PERMISSION_DENIED',
        details: expect.stringMatching(/needs the admin role; victor is a viewer/),
      });
    }
    const { incidents, totalCount } = await viewer.list({ hostId: host.hostId });
    expect(totalCount).toBe(1);
    expect(incidents[0]).toMatchObject({ version: 1, state: IncidentState.OPEN });
    // Tokens, good or bad, never reach the logs (debug level here).
    const logs = ingest.logs.join('');
    for (const token of [adminToken, viewerToken, expired, forged])
      expect(logs).not.toContain(token);
    // Refusals are counted by method and code.
    const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /tripwire_ingest_incident_requests_total\{method="UpdateIncident",code="PERMISSION_DENIED"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /tripwire_ingest_incident_requests_total\{method="GetIncident",code="UNAUTHENTICATED"\} [1-9]/,
    );
  });

  it('without OPERATOR_JWT_SECRET refuses every call, saying what to set, and warns at startup', async () => {
    const bare = await startIngest(env);
    const calls = incidentCalls(bare.address, adminToken);
    try {
      expect(bare.logs.join('')).toMatch(/OPERATOR_JWT_SECRET is not set/);
      const refusals = [
        await failure(calls.list({})),
        await failure(calls.get({ incidentId: randomUUID() })),
      ];
      const watcher = new IncidentWatcher(calls, adminToken, {});
      const streamed = await watcher.status;
      refusals.push({ code: streamed.code, details: streamed.details });
      for (const refused of refusals) {
        expect(refused).toEqual({
          code: status.UNAUTHENTICATED,
          details:
            'IncidentService needs operator tokens: set OPERATOR_JWT_SECRET on the ingest service',
        });
      }
      // The token itself never reaches the logs.
      expect(bare.logs.join('')).not.toContain(adminToken);
    } finally {
      calls.close();
      await bare.stop();
    }
  });

  it('answers UNAVAILABLE while the database is unreachable', async () => {
    const proxy = await proxyFor(env.databaseUrl);
    const cutOff = await startIngest(
      env,
      { OPERATOR_JWT_SECRET },
      { databaseUrl: proxy.url(env.databaseUrl) },
    );
    const calls = incidentCalls(cutOff.address, adminToken);
    try {
      proxy.cut();
      const refused = await failure(calls.list({}));
      expect({ code: status[refused.code], details: refused.details }).toEqual({
        code: 'UNAVAILABLE',
        details: 'the database is unavailable; retry with backoff',
      });
      proxy.restore();
      await until(
        () =>
          calls.list({}).then(
            () => true,
            () => false,
          ),
        10_000,
        'ListIncidents to work again',
      );
    } finally {
      calls.close();
      await cutOff.stop();
      await proxy.close();
    }
  });
});

describe('IncidentService: StreamIncidents', () => {
  it('delivers created from an alert storm, updated from another client, then resolved', async () => {
    const host = await newHost('stream');
    const watcher = await watch({ hostIds: [host.hostId] });
    try {
      await storm(host, 200, 150);
      await watcher.waitFor(
        (events) => events.some((e) => e.incident?.alertCount === 200),
        'the incident with all 200 alerts',
      );
      const incidentId = watcher.events[0]!.incident!.incidentId;
      expect(watcher.events.every((e) => e.incident!.incidentId === incidentId)).toBe(true);
      expect(watcher.events[0]!.type).toBe(IncidentEventType.INCIDENT_EVENT_TYPE_CREATED);
      expect(watcher.events.at(-1)!.incident).toMatchObject({
        alertCount: 200,
        maxSeverity: Severity.CRITICAL,
        ruleName: 'storm-rule',
        hostname: host.hostname,
        state: IncidentState.OPEN,
      });

      await admin.update({ incidentId, state: IncidentState.ACKNOWLEDGED, note: 'mine' });
      await watcher.waitFor(
        (events) => events.at(-1)?.incident?.state === IncidentState.ACKNOWLEDGED,
        'the acknowledgement',
      );
      expect(watcher.events.at(-1)!.type).toBe(IncidentEventType.INCIDENT_EVENT_TYPE_UPDATED);

      await admin.resolve({
        incidentId,
        resolutionMethod: ResolutionMethod.MANUAL,
        rootCause: 'a drill',
      });
      await watcher.waitFor(
        (events) => events.at(-1)?.type === IncidentEventType.INCIDENT_EVENT_TYPE_RESOLVED,
        'the resolution',
      );
      expect(watcher.events.at(-1)!.incident).toMatchObject({
        state: IncidentState.RESOLVED,
        rootCause: 'a drill',
      });
      // Each revision once, in order.
      const revisions = watcher.events.map((e) => e.incident!.revision);
      expect(revisions).toEqual([...new Set(revisions)].sort((x, y) => x - y));
    } finally {
      watcher.cancel();
    }
  });

  it('honours its filters; an incident a stream was sent stays followed until it ends', async () => {
    const one = await newHost('filter');
    const two = await newHost('filter');
    const byHost = await watch({ hostIds: [one.hostId] });
    const critical = await watch({
      severities: [Severity.CRITICAL],
      hostIds: [one.hostId, two.hostId],
    });
    const network = await watch({
      tripwireTypes: [TripwireType.NETWORK],
      hostIds: [one.hostId, two.hostId],
    });
    const openOnly = await watch({
      states: [IncidentState.OPEN],
      hostIds: [one.hostId, two.hostId],
    });
    const ackedOnly = await watch({
      states: [IncidentState.ACKNOWLEDGED],
      hostIds: [one.hostId, two.hostId],
    });
    const watchers = [byHost, critical, network, openOnly, ackedOnly];
    try {
      const quiet = await openIncident(one.hostId, {
        tripwireType: TripwireType.FILE,
        severity: Severity.INFO,
      });
      const loud = await openIncident(two.hostId, {
        tripwireType: TripwireType.NETWORK,
        severity: Severity.CRITICAL,
      });
      await admin.update({ incidentId: quiet.incidentId, state: IncidentState.ACKNOWLEDGED });
      await admin.resolve({
        incidentId: quiet.incidentId,
        resolutionMethod: ResolutionMethod.AUTOMATED,
        rootCause: 'expected',
      });
      const q = quiet.incidentId;
      const l = loud.incidentId;
      await openOnly.waitFor(
        (events) => events.some((e) => e.type === IncidentEventType.INCIDENT_EVENT_TYPE_RESOLVED),
        'the resolution on the OPEN stream',
      );
      await ackedOnly.waitFor(
        (events) => events.some((e) => e.type === IncidentEventType.INCIDENT_EVENT_TYPE_RESOLVED),
        'the resolution on the ACKNOWLEDGED stream',
      );
      await critical.waitFor((events) => events.length > 0, 'the critical incident');
      await network.waitFor((events) => events.length > 0, 'the network incident');
      await byHost.waitFor((events) => events.length === 3, 'three events of host one');
      const types = (w: IncidentWatcher, id: string) => w.of(id).map(([type]) => type);
      expect(types(byHost, q)).toEqual([
        'INCIDENT_EVENT_TYPE_CREATED',
        'INCIDENT_EVENT_TYPE_UPDATED',
        'INCIDENT_EVENT_TYPE_RESOLVED',
      ]);
      expect(types(byHost, l)).toEqual([]);
      expect(types(critical, l)).toEqual(['INCIDENT_EVENT_TYPE_CREATED']);
      expect(types(critical, q)).toEqual([]);
      expect(types(network, l)).toEqual(['INCIDENT_EVENT_TYPE_CREATED']);
      expect(types(network, q)).toEqual([]);
      // Followed after it left OPEN: the stream had been sent it.
      expect(types(openOnly, q)).toEqual([
        'INCIDENT_EVENT_TYPE_CREATED',
        'INCIDENT_EVENT_TYPE_UPDATED',
        'INCIDENT_EVENT_TYPE_RESOLVED',
      ]);
      expect(types(openOnly, l)).toEqual(['INCIDENT_EVENT_TYPE_CREATED']);
      // Shows up once it matches (acknowledged), then followed to its end.
      expect(types(ackedOnly, q)).toEqual([
        'INCIDENT_EVENT_TYPE_UPDATED',
        'INCIDENT_EVENT_TYPE_RESOLVED',
      ]);
      expect(types(ackedOnly, l)).toEqual([]);
    } finally {
      for (const w of watchers) w.cancel();
    }
  });

  it('with include_current sends the matching incidents first, then each later change once, none missed', async () => {
    const control = busReader(env, 'control');
    const host = await newHost('snapshot');
    const first = await openIncident(host.hostId, { severity: Severity.CRITICAL });
    const second = await openIncident(host.hostId, { severity: Severity.INFO });
    const done = await openIncident(host.hostId);
    await admin.resolve({
      incidentId: done.incidentId,
      resolutionMethod: ResolutionMethod.MANUAL,
      rootCause: 'old news',
    });
    // Notes land while the stream opens and reads its snapshot.
    const notes = Array.from({ length: 10 }, (_, n) =>
      admin.update({ incidentId: second.incidentId, note: `note ${n}` }),
    );
    const watcher = await watch({
      hostIds: [host.hostId],
      states: [IncidentState.OPEN, IncidentState.ACKNOWLEDGED],
      includeCurrent: true,
    });
    const republisher = new BusPublisher({
      redis: createRedisClient(env.redisUrl, { failFastWhileDisconnected: true }),
      keyPrefix: env.keyPrefix,
      stream: 'control',
    });
    try {
      await Promise.all(notes);
      // Late copies of changes the stream already has (a slow bus, another instance): dropped.
      await until(
        () => control.incidentEvents().some((m) => m.incident.incident_id === second.incidentId),
        5_000,
        'the incident messages on the control stream',
      );
      republisher.publish(
        control.entries
          .filter(
            (e) =>
              e.message.type === 'incident' &&
              [first.incidentId, second.incidentId].includes(e.message.data.incident.incident_id),
          )
          .map((e) => e.message),
      );
      await admin.update({ incidentId: first.incidentId, state: IncidentState.ACKNOWLEDGED });
      const { incident: latest } = await viewer.get({ incidentId: second.incidentId });
      await watcher.waitFor(
        (events) =>
          events.some(
            (e) =>
              e.incident?.incidentId === first.incidentId &&
              e.type === IncidentEventType.INCIDENT_EVENT_TYPE_UPDATED,
          ) &&
          events.some(
            (e) =>
              e.incident?.incidentId === second.incidentId &&
              e.incident.revision === latest!.revision,
          ),
        'the acknowledgement and the last note',
      );
      const snapshot = watcher.events.filter(
        (e) => e.type === IncidentEventType.INCIDENT_EVENT_TYPE_SNAPSHOT,
      );
      expect(snapshot.map((e) => e.incident!.incidentId)).toEqual([
        first.incidentId,
        second.incidentId,
      ]);
      expect(watcher.events.slice(0, 2)).toEqual(snapshot);
      expect(watcher.of(done.incidentId)).toEqual([]);
      expect(watcher.of(first.incidentId).map(([type]) => type)).toEqual([
        'INCIDENT_EVENT_TYPE_SNAPSHOT',
        'INCIDENT_EVENT_TYPE_UPDATED',
      ]);
      const revisions = watcher.of(second.incidentId).map(([, revision]) => revision);
      expect(revisions).toEqual([...new Set(revisions)].sort((x, y) => x - y));
      expect(revisions.at(-1)).toBe(latest!.revision);
    } finally {
      watcher.cancel();
      republisher.close();
      await control.stop();
    }
  });

  it('builds the include_current snapshot with every filter, over several hosts, highest severity first', async () => {
    const one = await newHost('snap');
    const two = await newHost('snap');
    await openIncident(one.hostId, {
      tripwireType: TripwireType.FILE,
      severity: Severity.CRITICAL,
    });
    const warn = await openIncident(one.hostId, {
      tripwireType: TripwireType.NETWORK,
      severity: Severity.WARN,
    });
    const critical = await openIncident(two.hostId, {
      tripwireType: TripwireType.NETWORK,
      severity: Severity.CRITICAL,
    });
    await openIncident(two.hostId, { tripwireType: TripwireType.PROCESS, severity: Severity.INFO });
    const watcher = await watch({
      hostIds: [one.hostId.toUpperCase(), two.hostId, two.hostId],
      tripwireTypes: [TripwireType.NETWORK],
      includeCurrent: true,
    });
    try {
      await watcher.waitFor((events) => events.length === 2, 'the snapshot');
      expect(
        watcher.events.map((e) => [IncidentEventType[e.type], e.incident!.incidentId]),
      ).toEqual([
        ['INCIDENT_EVENT_TYPE_SNAPSHOT', critical.incidentId],
        ['INCIDENT_EVENT_TYPE_SNAPSHOT', warn.incidentId],
      ]);
      // The upper-case host id matches live changes too.
      await admin.update({ incidentId: warn.incidentId, note: 'seen' });
      await watcher.waitFor((events) => events.length === 3, 'the note');
      expect(watcher.events[2]!.incident!.incidentId).toBe(warn.incidentId);
    } finally {
      watcher.cancel();
    }
  });

  it('refuses a bad filter with INVALID_ARGUMENT and ends open streams with OK when the server stops', async () => {
    const bad = new IncidentWatcher(viewer, viewerToken, { hostIds: ['web-01'] });
    const refused = await bad.status;
    expect({ code: status[refused.code], details: refused.details }).toEqual({
      code: 'INVALID_ARGUMENT',
      details: 'host_ids[0] must be a UUID (got "web-01")',
    });

    const stopping = await startIngest(env, { OPERATOR_JWT_SECRET });
    const calls = incidentCalls(stopping.address, viewerToken);
    try {
      const watcher = new IncidentWatcher(calls, viewerToken, { includeCurrent: true });
      await until(
        async () =>
          (await stopping.server.metrics.incidentRequests.get()).values.some(
            (v) => v.labels.method === 'StreamIncidents' && v.value > 0,
          ),
        5_000,
        'the stream to open',
      );
      await stopping.stop();
      expect((await watcher.status).code).toBe(status.OK);
    } finally {
      calls.close();
      await stopping.stop();
    }
  });
});
