import { afterEach, describe, expect, it } from 'vitest';
import { loadNativeUws, unsupportedNode } from './native-uws.js';

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

  it('refuses Node 22 and later, naming the versions it runs on and why', () => {
    for (const node of ['22.12.0', '24.1.0', '21.7.3']) {
      expect(() => loadNativeUws(node)).toThrow(
        `the fan-out runs on Node >=20.11 <21 only, not Node ${node}: its uWebSockets.js build ` +
          '(@trufflesuite/uws-js-unofficial 20.30.0) has native binaries for Node 16, 18 and 20 ' +
          'only (the republishes for newer Node need glibc 2.38); run it on Node 20',
      );
    }
  });

  it('runs on Node 20.11 and later 20.x only', () => {
    expect(unsupportedNode('20.11.0')).toBeUndefined();
    expect(unsupportedNode('20.20.2')).toBeUndefined();
    expect(unsupportedNode('20.10.0')).toMatch(/not Node 20.10.0/);
    expect(unsupportedNode('18.20.4')).toMatch(/not Node 18.20.4/);
  });
});
