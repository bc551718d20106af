import { type ExportRequest, exportUrl } from '../api.js';

/**
 * "Export CSV" and "Export NDJSON": links that download what the page's filter selects, every
 * row of it (not only the rows loaded), streamed by the server (GET /api/<kind>/export).
 */
export function ExportLinks({ request }: { request: ExportRequest }) {
  return (
    <span class="export-links" role="group" aria-label="Export">
      {(['csv', 'ndjson'] as const).map((format) => (
        <a
          key={format}
          class="button ghost"
          href={exportUrl(format, request)}
          download
          data-testid={`export-${request.kind}-${format}`}
        >
          Export {format.toUpperCase()}
        </a>
      ))}
    </span>
  );
}
