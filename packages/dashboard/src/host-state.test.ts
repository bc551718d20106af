import { describe, expect, it } from 'vitest';
import type { Host } from './api.js';
import { hostFromFrame, mergeHostFrame, mergeHostList } from './host-state.js';

const host = (status: Host['status'], status_version: number, over: Partial<Host> = {}): Host => ({
  host_id: 'h1',
  hostname: 'web-01',
  status,
  platform: 'linux',
  agent_version: '1.0.0',
  last_seen: `2026-11-22T14:00:0${status_version}.000Z`,
  status_version,
  ...over,
});

describe('host state', () => {
  it("reads a frame's version as status_version", () => {
    const { status_version, ...rest } = host('online', 4);
    expect(hostFromFrame({ ...rest, version: 4 })).toEqual(host('online', 4));
  });

  it('applies frames in version order, whatever order they arrive in', () => {
    const listed = host('offline', 1, { alerts_24h: 7 });
    const online = mergeHostFrame(listed, host('online', 3));
    expect(online).toMatchObject({ status: 'online', status_version: 3, alerts_24h: 7 });
    expect(mergeHostFrame(online!, host('offline', 2))).toBeNull();
    expect(mergeHostFrame(online!, host('offline', 4))).toMatchObject({ status: 'offline' });
    // A frame without a version (an older server) is applied.
    const { status_version, ...unversioned } = host('offline', 0);
    expect(mergeHostFrame(online!, unversioned)).toMatchObject({ status: 'offline' });
  });

  it('a list read before a newer frame does not take it back, but fills in the rest', () => {
    const known = new Map([['h1', host('online', 5)]]);
    const list = [
      host('offline', 4, { alerts_24h: 9 }),
      host('online', 2, { host_id: 'h2', hostname: 'db-01' }),
    ];
    const merged = mergeHostList(known, list);
    expect(merged.get('h1')).toEqual({ ...host('online', 5), alerts_24h: 9 });
    expect(merged.get('h2')).toEqual(list[1]);
    // A newer list wins.
    expect(mergeHostList(known, [host('offline', 6)]).get('h1')?.status).toBe('offline');
  });
});
