import { describe, expect, it } from 'vitest';
import { encodeRecords } from './export-format.js';

describe('encodeRecords', () => {
  const columns = ['name', 'detail', 'n', 'none'] as const;

  it('writes CSV with a header, quoting, JSON cells and formula escaping', () => {
    const text = encodeRecords(
      'csv',
      columns,
      [
        { name: '=1+2', detail: { a: 'b,c' }, n: -3, none: null },
        { name: '@SUM(A1)', detail: [1], n: 4, none: undefined },
        { name: '-cmd', detail: 'plain', n: 0, none: null },
        { name: '＝HYPERLINK("x")', detail: 'line\nbreak', n: 1, none: null },
      ],
      true,
    );
    expect(text.split('\n').slice(0, 4)).toEqual([
      'name,detail,n,none',
      `'=1+2,"{""a"":""b,c""}",-3,`,
      `'@SUM(A1),[1],4,`,
      `'-cmd,plain,0,`,
    ]);
    expect(text).toContain(`"'＝HYPERLINK(""x"")","line\nbreak",1,`);
    expect(encodeRecords('csv', columns, [{ name: 'x' }], false)).toBe('x,,,\n');
  });

  it('writes one JSON object a line for NDJSON', () => {
    expect(encodeRecords('ndjson', columns, [{ name: 'a\nb' }, { n: 1 }], true)).toBe(
      '{"name":"a\\nb"}\n{"n":1}\n',
    );
  });
});
