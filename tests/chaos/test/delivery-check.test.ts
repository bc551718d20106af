// The checker is what makes a chaos run trustworthy: it must report zero for a perfect run and
// exactly the damage done otherwise. Fed synthetic facts, so each kind of damage is known.
import { describe, expect, it } from 'vitest';
import type { AgentProgress } from '../src/agent-progress.js';
import { secondRanges } from '../src/chaos-report.js';
import type { ClientFilter } from '../src/client-filters.js';
import { checkDelivery, failures, type StoredAlert } from '../src/delivery-check.js';
import type { ClientRecord } from '../src/resuming-client.js';

const HOSTS = ['h-0', 'h-1'];
const TYPES = ['FILE', 'NETWORK', 'PROCESS'];
const SEVERITIES = ['INFO', 'WARN', 'CRITICAL'];

/** Agent a generated seqs 0..n-1, each stored once under id "a-seq". */
function perfectRun(n: number) {
  const stored: StoredAlert[] = [];
  const agents: AgentProgress[] = HOSTS.map((host, agent) => {
    for (let seq = 0; seq < n; seq++) {
      stored.push({
        alert_id: `${agent}-${seq}`,
        host_id: host,
        tripwire_type: TYPES[seq % 3]!,
        severity: SEVERITIES[(seq >> 1) % 3]!,
        chaos_agent: agent,
        chaos_seq: seq,
        received_ms: 1_000 * seq,
      });
    }
    return { nextSeq: n, durable: [[0, n - 1]], uncertain: [] };
  });
  return { stored, agents };
}

/** A client that received `alerts` in the given order, positions increasing. */
function clientThatSaw(alerts: StoredAlert[]): ClientRecord {
  const received = new Map(
    alerts.map((a, i) => [a.alert_id, { host_id: a.host_id, position: `1-${i + 1}` }]),
  );
  return {
    received,
    duplicates: new Map(),
    outOfOrder: 0,
    unorderable: 0,
    unpositioned: 0,
    incidents: 0,
    resumes: new Map(),
    notices: new Map(),
    connects: 1,
    firstWelcomeAt: 0,
    injectedDrops: 0,
    afterNotice: 0,
    duplicateKinds: new Map(),
    duplicateSamples: [],
  };
}

const critical: ClientFilter = { severities: ['CRITICAL'] };

describe('the delivery checker', () => {
  it('reports all zeros for a run where everything arrived once', () => {
    const { stored, agents } = perfectRun(50);
    const report = checkDelivery({
      startedAtMs: 0,
      stored,
      agents,
      clients: [
        { name: 'all', filter: {}, record: clientThatSaw(stored) },
        {
          name: 'critical',
          filter: critical,
          record: clientThatSaw(stored.filter((a) => a.severity === 'CRITICAL')),
        },
      ],
    });
    expect(failures(report)).toEqual([]);
    expect(report.generated).toBe(100);
    expect(report.clients.map((c) => c.expected)).toEqual([
      100,
      stored.filter((a) => a.severity === 'CRITICAL').length,
    ]);
  });

  it('counts a generated alert that is not stored as lost, and a second row as duplicated', () => {
    const { stored, agents } = perfectRun(10);
    const withoutOne = stored.filter((a) => a.alert_id !== '1-3');
    withoutOne.push({ ...stored[0]! }, { ...stored[5]!, alert_id: 'other-id-same-seq' });
    const report = checkDelivery({
      startedAtMs: 0,
      stored: withoutOne,
      agents,
      clients: [],
    });
    expect(report.lost).toBe(1);
    expect(report.duplicatedRows).toBe(2);
    expect(failures(report)).toEqual([
      'alerts lost (generated, not stored): 1',
      'duplicated rows: 2',
    ]);
  });

  it('accepts an uncertain alert either way, but not a row nobody generated', () => {
    const { stored, agents } = perfectRun(10);
    agents[0]!.uncertain.push([10, 11]);
    stored.push({ ...stored[0]!, alert_id: 'u', chaos_seq: 10 });
    stored.push({ ...stored[0]!, alert_id: 'p', chaos_seq: 99 });
    const report = checkDelivery({
      startedAtMs: 0,
      stored,
      agents,
      clients: [],
    });
    expect(report).toMatchObject({ uncertain: 2, uncertainStored: 1, lost: 0, phantomRows: 1 });
  });

  it('reports what a client missed, got twice, got out of order, or should not have got', () => {
    const { stored, agents } = perfectRun(20);
    const seen = stored.filter((a) => a.severity === 'CRITICAL');
    // The ledger marked one of the two it missed (a bus copy nobody was given), not the other.
    seen[0]!.ledger_position = 'e1:41';
    const record = clientThatSaw(seen.slice(2));
    record.received.set('0-1', { host_id: 'h-0', position: '9-9' });
    record.duplicates.set(seen[3]!.alert_id, 2);
    record.outOfOrder = 1;
    const report = checkDelivery({
      startedAtMs: 0,
      stored,
      agents,
      clients: [{ name: 'c', filter: critical, record }],
    });
    const c = report.clients[0]!;
    expect(c).toMatchObject({ missing: 2, duplicated: 2, outOfOrder: 1, unexpected: 1 });
    expect(c.missingSample).toEqual([seen[0]!.alert_id, seen[1]!.alert_id]);
    // Placed in time by when PostgreSQL stored them (seq n at n seconds here): seqs 4 and 5.
    expect(c.missingBySecond).toEqual(
      new Map([
        [4, 1],
        [5, 1],
      ]),
    );
    expect(c.missingByMark).toEqual(
      new Map([
        ['epoch e1', { count: 1, first: 41, last: 41 }],
        ['never marked published', { count: 1, first: 0, last: 0 }],
      ]),
    );
    expect(failures(report)).toEqual([
      'c: missing: 2',
      'c: duplicated: 2',
      'c: out of order: 1',
      'c: unexpected: 1',
    ]);
  });

  it('expects no alert at all on an incidents-only subscription', () => {
    const { stored, agents } = perfectRun(5);
    const report = checkDelivery({
      startedAtMs: 0,
      stored,
      agents,
      clients: [
        { name: 'inc', filter: { kinds: ['incident'] }, record: clientThatSaw(stored.slice(0, 1)) },
      ],
    });
    expect(report.clients[0]).toMatchObject({ expected: 0, unexpected: 1 });
  });
});

describe('the report', () => {
  it('joins consecutive seconds of missing alerts into ranges', () => {
    const bySecond = new Map([
      [51, 7],
      [49, 10],
      [50, 3],
      [80, 1],
    ]);
    expect(secondRanges(bySecond)).toBe('49-51 s (20), 80 s (1)');
  });
});
