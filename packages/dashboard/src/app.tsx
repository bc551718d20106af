import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type Operator } from './api.js';
import { ConsoleState, useConsole } from './console-state.js';
import type { ConnectionState } from './live-feed.js';
import {
  navigate,
  type Page,
  sameFilter,
  searchFromIncidentFilter,
  searchFromTaskFilter,
  useLocation,
} from './url-state.js';
import { AlertsView } from './views/alerts-view.js';
import { AuditView } from './views/audit-view.js';
import { EnrollmentView } from './views/enrollment-view.js';
import { HostsView } from './views/hosts-view.js';
import { IncidentsView } from './views/incidents-view.js';
import { NotificationsView } from './views/notifications-view.js';
import { RulesView } from './views/rules-view.js';
import { SignIn } from './views/sign-in.js';
import { SuppressionsView } from './views/suppressions-view.js';
import { TasksView } from './views/tasks-view.js';

export function App() {
  // undefined while asking the server whether the session cookie is still good.
  const [operator, setOperator] = useState<Operator | null | undefined>(undefined);
  useEffect(() => {
    api.session().then(setOperator, () => setOperator(null));
    const signedOut = () => setOperator(null);
    addEventListener('tripwire:signed-out', signedOut);
    return () => removeEventListener('tripwire:signed-out', signedOut);
  }, []);
  if (operator === undefined) return <div class="splash">TripWire…</div>;
  if (!operator) return <SignIn onSignedIn={setOperator} />;
  return <Console operator={operator} onSignedOut={() => setOperator(null)} />;
}

const NAV: Array<[Page, string, string]> = [
  ['alerts', 'Alerts', '/'],
  ['incidents', 'Incidents', '/incidents'],
  ['tasks', 'Tasks', '/tasks'],
  ['hosts', 'Hosts', '/hosts'],
  ['rules', 'Rules', '/rules'],
  ['suppressions', 'Suppressions', '/suppressions'],
  ['audit', 'Audit log', '/audit'],
  ['enrollment', 'Enrollment', '/enrollment'],
  ['notifications', 'Notifications', '/notifications'],
];

/** Pages only admins see in the navigation (the API refuses viewers anyway). */
const ADMIN_PAGES = new Set<Page>(['enrollment', 'notifications']);

function Console({ operator, onSignedOut }: { operator: Operator; onSignedOut: () => void }) {
  const location = useLocation();
  const state = useMemo(
    () =>
      new ConsoleState(
        location.filter,
        location.incidentFilter,
        location.taskFilter,
        operator,
        onSignedOut,
      ),
    [],
  );
  useConsole(state);
  useEffect(() => {
    state.start();
    return () => state.stop();
  }, [state]);
  // The filter in the URL drives the subscription (back/forward and shared links included).
  // On the incidents page the same severity and host narrow the subscription, which then carries
  // exactly the incidents the page can show (the server filters incidents by their highest
  // severity and their host); the state filter is applied in the page.
  useEffect(() => {
    if (
      searchFromIncidentFilter(location.incidentFilter) !==
      searchFromIncidentFilter(state.incidents.filter)
    )
      state.setIncidentFilter(location.incidentFilter);
    if (!sameFilter(location.filter, state.store.filter)) state.setFilter(location.filter);
    if (searchFromTaskFilter(location.taskFilter) !== searchFromTaskFilter(state.tasks.filter))
      state.setTaskFilter(location.taskFilter);
  }, [location.search]);

  const signOut = async () => {
    await api.signOut().catch(() => {});
    // With single sign-on, the provider's session ends too (when it has one to end): otherwise
    // "Sign in with …" would sign the same person straight back in.
    const config = await api.authConfig().catch(() => null);
    if (config?.oidc) window.location.assign('/api/auth/oidc/logout');
    else onSignedOut();
  };
  return (
    <div class="console">
      <header class="topbar">
        <span class="brand">TripWire</span>
        <nav>
          {NAV.filter(([page]) => operator.role === 'admin' || !ADMIN_PAGES.has(page)).map(
            ([page, label, href]) => (
              <a
                key={page}
                href={href}
                class={location.page === page ? 'active' : ''}
                aria-current={location.page === page ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  // A second click keeps the page's filter; coming from elsewhere starts unfiltered.
                  navigate(
                    (page === 'alerts' || page === 'incidents' || page === 'tasks') &&
                      location.page === page
                      ? `${href}${location.search}`
                      : href,
                  );
                }}
              >
                {label}
                {page === 'incidents' && state.openIncidents !== null && (
                  <span
                    class={`nav-count${state.openIncidents > 0 ? ' some' : ''}`}
                    data-testid="open-incidents"
                    title={`${state.openIncidents} open (OPEN or ACKNOWLEDGED)`}
                  >
                    {' '}
                    {state.openIncidents}
                  </span>
                )}
              </a>
            ),
          )}
        </nav>
        <ConnectionBadge state={state.connection} />
        <span class="operator" data-testid="operator">
          {operator.name} · {operator.role}
        </span>
        <button type="button" class="ghost" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {location.page === 'alerts' && <AlertsView state={state} filter={location.filter} />}
        {location.page === 'incidents' && (
          <IncidentsView state={state} filter={location.incidentFilter} operator={operator} />
        )}
        {location.page === 'tasks' && (
          <TasksView
            state={state}
            filter={location.taskFilter}
            taskId={location.taskId}
            operator={operator}
          />
        )}
        {location.page === 'hosts' && <HostsView state={state} />}
        {location.page === 'rules' && <RulesView state={state} operator={operator} />}
        {location.page === 'suppressions' && (
          <SuppressionsView state={state} operator={operator} search={location.search} />
        )}
        {location.page === 'audit' && <AuditView state={state} operator={operator} />}
        {location.page === 'enrollment' && <EnrollmentView operator={operator} />}
        {location.page === 'notifications' && <NotificationsView operator={operator} />}
      </main>
    </div>
  );
}

const CONNECTION_TEXT: Record<ConnectionState['kind'], string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  resumed: 'Live · resumed',
  reloaded: 'Live · could not recover, reloaded from history',
};

function ConnectionBadge({ state }: { state: ConnectionState }) {
  const title =
    state.kind === 'resumed'
      ? state.replayed === null
        ? 'reconnected and caught up from the database'
        : `reconnected and replayed ${state.replayed} missed alerts`
      : state.kind === 'reloaded'
        ? state.reason
        : state.kind === 'reconnecting'
          ? `attempt ${state.attempt}`
          : undefined;
  return (
    <span
      class={`connection connection-${state.kind}`}
      data-testid="connection"
      data-state={state.kind}
      role="status"
      title={title}
    >
      <span class="dot" aria-hidden="true" />
      {CONNECTION_TEXT[state.kind]}
    </span>
  );
}
