import { stringify } from 'csv-stringify/sync';

export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A record as the list endpoints give it (alertJson, toIncidentJson, …): the export's row. */
export type ExportRecord = object;

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/**
 * CSV cells through csv-stringify: quoting of commas, quotes and line breaks, and
 * `escape_formulas`, which prefixes `'` to a cell starting with = + - @ (and their full-width
 * forms), tab or CR, so a spreadsheet shows an attacker's `=HYPERLINK(…)` in a rule name or a
 * path as text instead of running it (OWASP "CSV Injection"). Nested values (event_detail,
 * notes, details) are one cell of JSON text; null is an empty cell.
 */
function csvRows(columns: readonly string[], records: ExportRecord[], header: boolean): string {
  return stringify(
    records.map((r) => columns.map((c) => cell((r as Record<string, unknown>)[c]))),
    { escape_formulas: true, header, columns: header ? [...columns] : undefined },
  );
}

function cell(value: unknown): string | number | boolean {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return value;
  return JSON.stringify(value);
}

/**
 * One batch of records in `format`: NDJSON is one JSON object a line (the list endpoints'
 * shape); CSV has `columns` in this order, with a header line before the first batch.
 */
export function encodeRecords(
  format: ExportFormat,
  columns: readonly string[],
  records: ExportRecord[],
  first: boolean,
): string {
  if (format === 'csv') return csvRows(columns, records, first);
  let text = '';
  for (const r of records) text += `${JSON.stringify(r)}\n`;
  return text;
}
