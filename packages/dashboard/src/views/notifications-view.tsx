import { useEffect, useState } from 'preact/hooks';
import {
  api,
  type NotificationDeliveryJson,
  type NotificationRouteJson,
  type Operator,
} from '../api.js';
import { formatTime } from '../format.js';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Notifications (admins): the routes, and the dead letters (deliveries that ran out of
 * attempts or age) with a retry each. Routes are managed over REST (docs/notifications.md).
 */
export function NotificationsView({ operator }: { operator: Operator }) {
  const [routes, setRoutes] = useState<NotificationRouteJson[] | null>(null);
  const [dead, setDead] = useState<NotificationDeliveryJson[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    Promise.all([api.notificationRoutes(), api.deadDeliveries()]).then(
      ([r, d]) => {
        setRoutes(r.routes);
        setDead(d.deliveries);
        setError(null);
      },
      (e: unknown) => setError(message(e)),
    );
  useEffect(() => {
    if (operator.role === 'admin') void load();
  }, []);
  const retry = (id: string) => async () => {
    try {
      await api.retryDelivery(id);
      await load();
    } catch (e) {
      setError(message(e));
    }
  };
  if (operator.role !== 'admin')
    return (
      <section class="page">
        <h1>Notifications</h1>
        <p class="muted">Notifications need the admin role.</p>
      </section>
    );
  const routeName = (id: string) => routes?.find((r) => r.route_id === id)?.name ?? id;
  return (
    <section class="page">
      <div class="page-head">
        <h1>Notifications</h1>
        <button type="button" class="ghost" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <h2>Routes</h2>
      <table class="grid" data-testid="notification-routes">
        <thead>
          <tr>
            <th>Name</th>
            <th>Destination</th>
            <th>Events</th>
            <th>Severity</th>
            <th>Throttle</th>
          </tr>
        </thead>
        <tbody>
          {(routes ?? []).map((r) => (
            <tr key={r.route_id}>
              <td>
                {r.name}
                {!r.enabled && <span class="muted"> (disabled)</span>}
              </td>
              <td>{r.kind}</td>
              <td>{r.events.join(', ')}</td>
              <td>{r.min_severity} and above</td>
              <td>{r.throttle_per_minute ? `${r.throttle_per_minute} a minute` : 'none'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Dead deliveries</h2>
      <p class="muted">
        Notifications that ran out of attempts or waited too long. Retry sends one again (a fresh
        attempt budget); the receiver sees the same idempotency key as before.
      </p>
      <table class="grid" data-testid="dead-deliveries">
        <thead>
          <tr>
            <th>Route</th>
            <th>Event</th>
            <th>Queued</th>
            <th>Attempts</th>
            <th>Last error</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(dead ?? []).map((d) => (
            <tr key={d.delivery_id} data-delivery-id={d.delivery_id}>
              <td>{routeName(d.route_id)}</td>
              <td class="mono">{d.event_key}</td>
              <td>{formatTime(d.created_at)}</td>
              <td>{d.attempts}</td>
              <td class="mono">{d.last_error}</td>
              <td class="actions">
                <button type="button" onClick={retry(d.delivery_id)}>
                  Retry
                </button>
              </td>
            </tr>
          ))}
          {dead?.length === 0 && (
            <tr>
              <td colSpan={6} class="muted">
                No dead deliveries.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
