import { countAlertsPerHost, listHosts, type Pool } from '@tripwire/storage';
import { type RouteContext, route } from './http-route.js';

const DAY_MS = 24 * 3600 * 1000;

/** /api/hosts: every registered host with its status and its alert count over the last 24 hours. */
export function registerHostsApi(ctx: RouteContext, { pool }: { pool: Pool }) {
  route(ctx, 'get', '/api/hosts', 'any', async () => {
    const [hosts, alerts24h] = await Promise.all([
      listHosts(pool),
      countAlertsPerHost(pool, new Date(Date.now() - DAY_MS)),
    ]);
    return {
      body: {
        hosts: hosts.map((h) => ({
          host_id: h.hostId,
          hostname: h.hostname,
          status: h.status,
          platform: h.platform,
          agent_version: h.agentVersion,
          registered_at: h.registeredAt.toISOString(),
          last_seen: h.lastSeen?.toISOString() ?? null,
          status_version: h.statusVersion,
          alerts_24h: alerts24h.get(h.hostId) ?? 0,
        })),
      },
    };
  });
}
