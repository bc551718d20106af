// The WebSocket clients' filters: every filter dimension, alone and combined, including one
// client that subscribes to incidents only (it must receive no alert at all) and two that see
// everything (they must agree).
import type { Random } from './seeded-random.js';

export interface ClientFilter {
  kinds?: Array<'alert' | 'incident'>;
  severities?: string[];
  types?: string[];
  hostIds?: string[];
}

export interface AlertFacts {
  host_id: string;
  severity: string;
  tripwire_type: string;
}

/** Up to 12 filters; host filters pick agents at random from the seed. */
export function clientFilters(count: number, hostIds: string[], random: Random): ClientFilter[] {
  const someHosts = (n: number) => {
    const pool = [...hostIds];
    const picked: string[] = [];
    while (picked.length < Math.min(n, hostIds.length)) {
      picked.push(pool.splice(random.int(0, pool.length - 1), 1)[0]!);
    }
    return picked;
  };
  const filters: ClientFilter[] = [
    {},
    { kinds: ['alert'], severities: ['CRITICAL'] },
    { types: ['FILE'] },
    { hostIds: someHosts(3) },
    { kinds: ['incident'] },
    { severities: ['WARN', 'CRITICAL'], types: ['NETWORK', 'PROCESS'] },
    { kinds: ['alert', 'incident'], hostIds: someHosts(Math.ceil(hostIds.length / 2)) },
    { types: ['PROCESS'], severities: ['INFO'] },
    { hostIds: someHosts(5), severities: ['CRITICAL', 'INFO'] },
    { kinds: ['alert'], types: ['NETWORK'] },
    { hostIds: someHosts(1), types: ['FILE', 'PROCESS'], severities: ['WARN'] },
    {},
  ];
  return filters.slice(0, count);
}

/** Whether an alert belongs to the filter, as the fan-out decides it. */
export function alertMatches(filter: ClientFilter, alert: AlertFacts): boolean {
  if (filter.kinds && !filter.kinds.includes('alert')) return false;
  if (filter.severities && !filter.severities.includes(alert.severity)) return false;
  if (filter.types && !filter.types.includes(alert.tripwire_type)) return false;
  if (filter.hostIds && !filter.hostIds.includes(alert.host_id)) return false;
  return true;
}

/** The /ws/alerts query parameters for the filter. */
export function filterQuery(filter: ClientFilter): URLSearchParams {
  const q = new URLSearchParams();
  if (filter.kinds) q.set('kind', filter.kinds.join(','));
  if (filter.severities) q.set('severity', filter.severities.join(','));
  if (filter.types) q.set('type', filter.types.join(','));
  if (filter.hostIds) q.set('host_id', filter.hostIds.join(','));
  return q;
}

export function describeFilter(filter: ClientFilter): string {
  const parts: string[] = [];
  if (filter.kinds) parts.push(`kind=${filter.kinds.join(',')}`);
  if (filter.severities) parts.push(`severity=${filter.severities.join(',')}`);
  if (filter.types) parts.push(`type=${filter.types.join(',')}`);
  if (filter.hostIds) parts.push(`hosts=${filter.hostIds.length}`);
  return parts.join(' ') || 'everything';
}
