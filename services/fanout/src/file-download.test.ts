import { describe, expect, it } from 'vitest';
import { safeFilename } from './file-download.js';

describe('safeFilename', () => {
  it('keeps a plain name and reduces everything else to safe characters', () => {
    expect(safeFilename('/etc/passwd', 't1')).toBe('passwd');
    expect(safeFilename('/tmp/a "b"\r\nX-Evil: 1.sh', 't1')).toBe('a__b___X-Evil__1.sh');
    expect(safeFilename('/tmp/..', 't1')).toBe('task-t1.bin');
    expect(safeFilename('/tmp/.bashrc', 't1')).toBe('bashrc');
    expect(safeFilename('/tmp/€€€', 'abc-1')).toBe('task-abc-1.bin');
    expect(safeFilename(`/tmp/${'a'.repeat(300)}`, 't1')).toHaveLength(100);
  });
});
