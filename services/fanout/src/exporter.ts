import { appendAuditEntry, type Pool } from '@tripwire/storage';
import type { Counter } from 'prom-client';
import { acceptsGzip } from './accept-encoding.js';
import {
  CONTENT_TYPES,
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportRecord,
} from './export-format.js';
import { createExportSlots } from './export-slots.js';
import { exportBody, firstBatch } from './export-stream.js';
import { downloadHeaders } from './file-download.js';
import { ApiError, type ApiRequest, type ApiResponse } from './http-route.js';
import { auditActor } from './operator-auth.js';
import { perMinute, takeOrRefuse } from './request-rate-limit.js';

/** EXPORT_* (configuration.md). */
export interface ExportLimits {
  perOperator: number;
  total: number;
  perOperatorPerMinute: number;
  /** The longest one export may take, all its reads together (0: no limit). */
  maxDurationS: number;
  /** Rows read per cursor fetch: about what one export holds in memory. */
  batchRows: number;
}

export interface ExportMetrics {
  /** By kind (alerts, incidents, audit) and outcome (completed, aborted). */
  exports: Counter<'kind' | 'outcome'>;
  exportRows: Counter<'kind'>;
}

export interface ExporterDeps {
  pool: Pool;
  limits: ExportLimits;
  metrics: ExportMetrics;
  /** A failure after the answer began (the closing audit entry could not be written). */
  report: (what: string, err: unknown) => void;
}

export type ExportKind = 'alerts' | 'incidents' | 'audit';

/** What one resource exports: its columns, its rows, and the filter as the audit log records it. */
export interface ExportSpec<T> {
  kind: ExportKind;
  columns: readonly string[];
  toRecord: (item: T) => ExportRecord;
  /** The validated filter, recorded in the audit entries. */
  filter: Record<string, unknown>;
  /** Opens the cursor (taking a pool connection on its first read); throws on a bad filter. */
  open: (options: { batchSize: number; timeoutMs: number }) => AsyncGenerator<T[], void, undefined>;
}

function formatParam(query: URLSearchParams): ExportFormat {
  const raw = (query.get('format') ?? 'csv').toLowerCase();
  if (!(EXPORT_FORMATS as readonly string[]).includes(raw))
    throw new ApiError(
      400,
      'invalid_parameter',
      `format must be one of ${EXPORT_FORMATS.join(', ')}`,
      {
        format: 'unknown value',
      },
    );
  return raw as ExportFormat;
}

/** `tripwire-alerts-20261206T010203Z.csv`: only [a-z0-9.-], nothing to escape in the header. */
const exportFilename = (kind: ExportKind, format: ExportFormat) =>
  `tripwire-${kind}-${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}.${format}`;

/**
 * Streams exports (GET /api/{alerts,incidents,audit}/export): the format checked, the
 * operator's allowance taken (EXPORTS_PER_OPERATOR_PER_MINUTE, then a running slot), the
 * export recorded in the audit log before any row leaves (so an export is on record even if
 * this process dies mid-way), the first batch read before answering, then the rest as the
 * client reads; when it ends a second entry records the rows sent and whether it completed.
 */
export function createExporter({ pool, limits, metrics, report }: ExporterDeps) {
  const slots = createExportSlots(limits);
  const rate = perMinute(limits.perOperatorPerMinute);
  return {
    running: slots.running,
    async serve<T>(req: ApiRequest, spec: ExportSpec<T>): Promise<ApiResponse> {
      const format = formatParam(req.query);
      const batches = spec.open({
        batchSize: limits.batchRows,
        timeoutMs: limits.maxDurationS * 1000,
      });
      const who = req.operator.name;
      await takeOrRefuse(
        rate,
        who,
        'too_many_exports',
        `at most ${limits.perOperatorPerMinute} exports a minute per operator`,
      );
      const release = slots.take(who);
      const gzip = acceptsGzip(req.headers.acceptEncoding);
      const actor = auditActor(req.operator);
      let first: IteratorResult<T[], void>;
      let started: { seq: number };
      try {
        started = await appendAuditEntry(pool, {
          actor,
          action: `${spec.kind}.export`,
          target: format,
          details: { format, gzip, filter: spec.filter },
        });
        first = await firstBatch(batches);
      } catch (err) {
        release();
        await batches.return().catch(() => {});
        throw err;
      }
      const onEnd = ({ rows, completed }: { rows: number; completed: boolean }) => {
        release();
        metrics.exports.inc({ kind: spec.kind, outcome: completed ? 'completed' : 'aborted' });
        metrics.exportRows.inc({ kind: spec.kind }, rows);
        appendAuditEntry(pool, {
          actor,
          action: `${spec.kind}.export_end`,
          target: format,
          details: { export_seq: started.seq, rows, completed },
        }).catch((err: unknown) => report(`${spec.kind} export audit`, err));
      };
      const stream = exportBody(first, batches, {
        format,
        columns: spec.columns,
        toRecord: spec.toRecord,
        gzip,
        onEnd,
      });
      return { headers: exportHeaders(spec.kind, format, gzip), stream };
    },
  };
}

export type Exporter = ReturnType<typeof createExporter>;

function exportHeaders(kind: ExportKind, format: ExportFormat, gzip: boolean) {
  return {
    ...downloadHeaders(exportFilename(kind, format)),
    'content-type': CONTENT_TYPES[format],
    vary: 'accept-encoding',
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  };
}
