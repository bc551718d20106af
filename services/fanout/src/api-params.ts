import { PRINTABLE_LINE } from '@tripwire/wire';
import { z } from 'zod';
import { ApiError } from './http-route.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const DAY_MS = 24 * 3600 * 1000;

/** `from` and `to` (ISO 8601): by default the 24 hours up to a minute from now. */
export function timeRange(query: URLSearchParams) {
  const parse = (name: string, fallback: Date) => {
    const raw = query.get(name);
    if (!raw) return fallback;
    const d = new Date(raw);
    if (Number.isNaN(d.getTime()))
      throw new ApiError(400, 'invalid_parameter', `${name} must be an ISO 8601 time`, {
        [name]: 'not a time',
      });
    // JavaScript reads years PostgreSQL cannot store (before 4713 BC: "timestamp out of range",
    // which would be a 500); ISO 8601's four-digit years are plenty for a time filter.
    const year = d.getUTCFullYear();
    if (year < 1 || year > 9999)
      throw new ApiError(400, 'invalid_parameter', `${name} must be a time in years 1 to 9999`, {
        [name]: 'out of range',
      });
    return d;
  };
  const to = parse('to', new Date(Date.now() + 60_000));
  const from = parse('from', new Date(to.getTime() - DAY_MS));
  if (from > to)
    throw new ApiError(400, 'invalid_parameter', 'from must not be after to', { from: 'after to' });
  return { from, to };
}

/** A comma list of upper-cased values, each one of `allowed` (400 invalid_parameter naming the bad one). */
export function listParam(query: URLSearchParams, name: string, allowed: readonly string[]) {
  const values = (query.get(name) ?? '')
    .split(',')
    .map((v) => v.trim().toUpperCase())
    .filter(Boolean);
  const bad = values.find((v) => !allowed.includes(v));
  if (bad)
    throw new ApiError(
      400,
      'invalid_parameter',
      `${name}: "${bad.slice(0, 40)}" is not one of ${allowed.join(', ')}`,
      { [name]: 'unknown value' },
    );
  return values;
}

export function hostParam(query: URLSearchParams, name = 'host_id') {
  const value = query.get(name);
  if (value && !UUID.test(value))
    throw new ApiError(400, 'invalid_parameter', `${name} must be a UUID`, {
      [name]: 'not a UUID',
    });
  return value ?? undefined;
}

/** A whole number from `min` to `max`, `fallback` when absent. */
export function integerParam(
  query: URLSearchParams,
  name: string,
  { min, max, fallback }: { min: number; max: number; fallback: number },
) {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const integer = /^-?\d{1,9}$/.test(raw);
  const value = Number(raw);
  if (!integer || value < min || value > max)
    throw new ApiError(
      400,
      'invalid_parameter',
      `${name} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}`,
      { [name]: integer ? 'out of range' : 'not an integer' },
    );
  return value;
}

/**
 * The body parsed by `schema`, or 400 validation_failed with one entry per bad
 * field (`body` for problems with the body as a whole).
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const fields: Record<string, string> = {};
  for (const issue of parsed.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) fields[key] ??= 'is not a known field';
      continue;
    }
    fields[issue.path.join('.') || 'body'] ??= issue.message;
  }
  throw new ApiError(
    400,
    'validation_failed',
    `invalid ${what}: ${Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}`,
    fields,
  );
}

/** A name an admin gives a credential (API token, enrollment token): one printable line. */
export const credentialName = (maxLength: number) =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(maxLength, `must be at most ${maxLength} characters`)
    .regex(PRINTABLE_LINE, 'must not contain control characters');
