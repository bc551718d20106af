import { afterEach, describe, expect, it } from 'vitest';
import { loadNativeUws } from './native-uws.js';

describe('loadNativeUws', () => {
  afterEach(() => {
    delete process.env.UWS_USE_FALLBACK;
  });

  it('loads the native binary', () => {
    const uws = loadNativeUws();
    expect(Function.prototype.toString.call(uws.App)).toMatch(/\[native code\]/);
  });

  it('refuses to run on the pure-JS fallback', () => {
    process.env.UWS_USE_FALLBACK = '1';
    expect(() => loadNativeUws()).toThrow(/only runs on the native uWebSockets.js binary/);
  });
});
