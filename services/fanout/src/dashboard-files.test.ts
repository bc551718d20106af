import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDashboardFiles } from './dashboard-files.js';

const root = mkdtempSync(join(tmpdir(), 'tripwire-dashboard-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loadDashboardFiles', () => {
  it('reads every file under the folder, keyed by URL path, skipping dotfiles', () => {
    const dir = join(root, 'built');
    mkdirSync(join(dir, 'assets', 'fonts'), { recursive: true });
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    writeFileSync(join(dir, 'assets', 'app-1a2b.js'), 'x'.repeat(4096));
    writeFileSync(join(dir, 'assets', 'fonts', 'f.woff2'), 'font');
    writeFileSync(join(dir, '.DS_Store'), 'junk');
    const loaded = loadDashboardFiles(dir);
    if (!loaded.available) throw new Error(loaded.reason);
    expect([...loaded.files.keys()].sort()).toEqual([
      '/assets/app-1a2b.js',
      '/assets/fonts/f.woff2',
      '/index.html',
    ]);
    const js = loaded.files.get('/assets/app-1a2b.js')!;
    expect(js).toMatchObject({ contentType: 'text/javascript; charset=utf-8', immutable: true });
    expect(js.gzipped!.length).toBeLessThan(100);
    expect(loaded.files.get('/assets/fonts/f.woff2')).toMatchObject({
      contentType: 'font/woff2',
      gzipped: null,
    });
    expect(loaded.files.get('/index.html')).toMatchObject({ immutable: false, gzipped: null });
  });

  it('reports, without throwing, a folder that is missing or has no index.html', () => {
    expect(loadDashboardFiles(undefined)).toMatchObject({
      available: false,
      reason: expect.stringMatching(/not installed/),
    });
    expect(loadDashboardFiles(join(root, 'nope'))).toMatchObject({
      available: false,
      reason: expect.stringMatching(/does not exist/),
    });
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(loadDashboardFiles(empty)).toMatchObject({
      available: false,
      reason: expect.stringMatching(/has no index.html/),
    });
  });
});
