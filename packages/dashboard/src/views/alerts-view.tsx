import { TRIPWIRE_TYPES } from '@tripwire/wire';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { AlertRow } from '../alert-store.js';
import type { AlertQuery } from '../api.js';
import type { ConsoleState } from '../console-state.js';
import { formatTime, hostName, summarize } from '../format.js';
import { navigate, searchFromFilter } from '../url-state.js';
import { AlertDetail } from './alert-detail.js';
import { ExportLinks } from './export-links.js';
import { FilterChips, SeverityFieldset } from './filter-chips.js';
import { HostFilter } from './host-options.js';
import { RateChart } from './rate-chart.js';
import { SearchBox } from './search-box.js';
import { SeverityBadge } from './severity-badge.js';
import { useVirtualRows } from './virtual-rows.js';

const ROW_HEIGHT = 28;
/** A row counts as new for this long after it arrived live. */
const NEW_FOR_MS = 10_000;

export function AlertsView({ state, filter }: { state: ConsoleState; filter: AlertQuery }) {
  const { store } = state;
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [detailOpen, setDetailOpen] = useState(false);
  const selected = selectedId ? store.rows.find((r) => r.alert_id === selectedId) : undefined;

  return (
    <div class={`alerts-view${detailOpen && selected ? ' with-detail' : ''}`}>
      <FilterBar state={state} filter={filter} />
      <RateChart rate={state.rate} />
      <div class="table-toolbar">
        <button
          type="button"
          data-testid="pause"
          aria-pressed={store.paused}
          onClick={() => store.setPaused(!store.paused)}
        >
          {store.paused ? 'Resume live' : 'Pause live'}
        </button>
        {store.paused && (
          <span class="held" data-testid="held">
            {store.held.length} new while paused
          </span>
        )}
        <span class="count" data-testid="row-count">
          {store.rows.length.toLocaleString()} {store.rows.length === 1 ? 'alert' : 'alerts'} loaded
        </span>
        <span class="hint">↑↓ move · Enter details · Esc close</span>
        <ExportLinks request={{ kind: 'alerts', filter }} />
      </div>
      <AlertTable
        state={state}
        selectedId={selectedId}
        onSelect={setSelectedId}
        onOpen={(id) => {
          setSelectedId(id);
          setDetailOpen(true);
        }}
        onClose={() => setDetailOpen(false)}
      />
      {detailOpen && selected && (
        <AlertDetail alert={selected} state={state} onClose={() => setDetailOpen(false)} />
      )}
    </div>
  );
}

function FilterBar({ state, filter }: { state: ConsoleState; filter: AlertQuery }) {
  const apply = (next: AlertQuery) => navigate(`/${searchFromFilter(next)}`);
  return (
    <div class="filter-bar" role="group" aria-label="Filter alerts">
      <SearchBox value={filter.q ?? ''} onSearch={(q) => apply({ ...filter, q })} />
      <SeverityFieldset
        selected={filter.severity}
        onChange={(severity) => apply({ ...filter, severity })}
      />
      <fieldset>
        <legend>Type</legend>
        <FilterChips
          name="type"
          values={TRIPWIRE_TYPES}
          selected={filter.type}
          onChange={(type) => apply({ ...filter, type })}
        />
      </fieldset>
      <HostFilter
        value={filter.host}
        hosts={state.hosts}
        onChange={(host) => apply({ ...filter, host })}
      />
      {(filter.severity.length > 0 || filter.type.length > 0 || filter.host || filter.q) && (
        <button
          type="button"
          class="ghost"
          onClick={() => apply({ severity: [], type: [], host: null })}
        >
          Clear filter
        </button>
      )}
    </div>
  );
}

function AlertTable(props: {
  state: ConsoleState;
  selectedId: string | null;
  onSelect: (id: string) => void;
  onOpen: (id: string) => void;
  onClose: () => void;
}) {
  const { state, selectedId } = props;
  const { rows } = state.store;
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualRows(rows.length + 1, () => scroller.current, ROW_HEIGHT);
  const items = virtualizer.getVirtualItems();

  // Rows arriving on top must not move what a reader scrolled down to.
  const firstId = useRef<string | undefined>(undefined);
  useLayoutEffect(() => {
    const el = scroller.current;
    const previous = firstId.current;
    firstId.current = rows[0]?.alert_id;
    if (!el || !previous || el.scrollTop === 0 || previous === rows[0]?.alert_id) return;
    const added = rows.findIndex((r, i) => r.alert_id === previous || i > 5000);
    if (added > 0 && rows[added]?.alert_id === previous) el.scrollTop += added * ROW_HEIGHT;
  }, [rows]);

  // Scrolling near the end of what is loaded fetches the next older page.
  const last = items.at(-1)?.index ?? 0;
  useEffect(() => {
    if (last >= rows.length - 20 && !state.store.historyDone && !state.historyError)
      void state.loadOlder();
  }, [last, rows.length, state.store.historyDone]);

  const move = (delta: number) => {
    if (rows.length === 0) return;
    const at = selectedId ? rows.findIndex((r) => r.alert_id === selectedId) : -1;
    const next = Math.max(0, Math.min(rows.length - 1, at < 0 ? 0 : at + delta));
    props.onSelect(rows[next]!.alert_id);
    virtualizer.scrollToIndex(next, { align: 'auto' });
  };
  const onKeyDown = (e: KeyboardEvent) => {
    const page = Math.max(1, Math.floor((scroller.current?.clientHeight ?? 280) / ROW_HEIGHT) - 1);
    const keys: Record<string, () => void> = {
      ArrowDown: () => move(1),
      j: () => move(1),
      ArrowUp: () => move(-1),
      k: () => move(-1),
      PageDown: () => move(page),
      PageUp: () => move(-page),
      Home: () => move(-rows.length),
      End: () => move(rows.length),
      Enter: () => selectedId && props.onOpen(selectedId),
      Escape: props.onClose,
    };
    const action = keys[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  };

  const now = Date.now();
  // The grid takes focus and keys; rows are pointed at with aria-activedescendant, the ARIA
  // pattern for virtualized rows that come and go from the page.
  return (
    <div
      class="alert-table"
      role="grid"
      tabIndex={0}
      onKeyDown={onKeyDown}
      aria-rowcount={rows.length}
      aria-label="Alerts, newest first"
      aria-activedescendant={selectedId ? `alert-${selectedId}` : undefined}
      data-testid="alert-table"
    >
      <div class="row head" role="row">
        <span role="columnheader">Received</span>
        <span role="columnheader">Severity</span>
        <span role="columnheader">Type</span>
        <span role="columnheader">Host</span>
        <span role="columnheader">Rule</span>
        <span role="columnheader">Detail</span>
      </div>
      <div class="scroller" ref={scroller} data-testid="alert-scroller">
        <div style={{ height: `${virtualizer.getTotalSize()}px`, position: 'relative' }}>
          {items.map((item) => {
            const row: AlertRow | undefined = rows[item.index];
            const style = { transform: `translateY(${item.start}px)`, height: `${ROW_HEIGHT}px` };
            if (!row) return <HistoryFooter key="footer" state={state} style={style} />;
            const isNew = row.arrivedAt > 0 && now - row.arrivedAt < NEW_FOR_MS;
            return (
              // biome-ignore lint/a11y/useKeyWithClickEvents: the grid handles keys for every row
              <div
                key={row.alert_id}
                id={`alert-${row.alert_id}`}
                role="row"
                aria-selected={row.alert_id === selectedId}
                class={`row${isNew ? ' new' : ''}${row.alert_id === selectedId ? ' selected' : ''}`}
                style={style}
                data-alert-id={row.alert_id}
                data-severity={row.severity}
                onClick={() => props.onSelect(row.alert_id)}
                onDblClick={() => props.onOpen(row.alert_id)}
              >
                <span role="gridcell" title={row.received_at}>
                  {isNew && (
                    <span class="new-mark" title="new">
                      ●
                    </span>
                  )}
                  {formatTime(row.received_at)}
                </span>
                <span role="gridcell">
                  <SeverityBadge severity={row.severity} />
                </span>
                <span role="gridcell">{row.tripwire_type}</span>
                <span role="gridcell">{hostName(row, state.hosts)}</span>
                <span role="gridcell">{row.rule_name}</span>
                <span role="gridcell" class="detail-cell">
                  {summarize(row.event_detail)}
                </span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

function HistoryFooter({ state, style }: { state: ConsoleState; style: Record<string, string> }) {
  const { store } = state;
  let content: preact.ComponentChildren;
  if (state.historyError)
    content = (
      <>
        Could not load older alerts: {state.historyError}{' '}
        <button type="button" class="link" onClick={() => void state.loadOlder()}>
          Retry
        </button>
      </>
    );
  else if (state.loadingHistory) content = 'Loading older alerts…';
  else if (store.historyDone)
    content = store.rows.length ? 'End of history' : 'No alerts match this filter yet';
  else content = '';
  return (
    <div class="row footer" style={style} data-testid="history-footer">
      {content}
    </div>
  );
}
