import { describe, expect, it } from 'vitest';
import { filterFromSearch, searchFromFilter } from './url-state.js';

describe('the filter in the URL', () => {
  it('round-trips, ignoring unknown values and malformed hosts', () => {
    const host = '3f2a0c1e-9b7d-4c55-8e2f-0123456789ab';
    const f = filterFromSearch(`?severity=critical,bogus,WARN&type=FILE&host=${host}`);
    expect(f).toEqual({ severity: ['CRITICAL', 'WARN'], type: ['FILE'], host });
    expect(searchFromFilter(f)).toBe(`?severity=CRITICAL,WARN&type=FILE&host=${host}`);
    expect(filterFromSearch('?host=not-a-uuid').host).toBeNull();
    expect(searchFromFilter({ severity: [], type: [], host: null })).toBe('');
  });

  it('keeps a search of 3 to 200 characters, trimmed, and drops any other', () => {
    const f = filterFromSearch('?q=%20%2Fetc%2Fshadow%20&severity=WARN');
    expect(f.q).toBe('/etc/shadow');
    expect(searchFromFilter(f)).toBe('?severity=WARN&q=%2Fetc%2Fshadow');
    expect(filterFromSearch('?q=ab').q).toBeUndefined();
    expect(filterFromSearch(`?q=${'x'.repeat(201)}`).q).toBeUndefined();
  });
});
