import { fc, fuzz } from '@tripwire/test-fixtures/fuzz';
import { it } from 'vitest';
import { operatorFromClaims } from './oidc-roles.js';

const mapping = { roleClaim: 'a.b', adminValues: ['admins'], viewerValues: ['soc'] };

it('maps any claims a provider may send without throwing, and admin only with an admin value', async () => {
  await fuzz(
    'oidc claims → operator',
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (claims) => {
      const result = operatorFromClaims(claims, mapping);
      if (result.ok && result.operator.role === 'admin') {
        const nested = (claims as { a?: { b?: unknown } }).a;
        const a = claims['a.b'] !== undefined ? claims['a.b'] : nested?.b;
        if (!(a === 'admins' || (Array.isArray(a) && a.includes('admins'))))
          throw new Error('admin without an admin value');
      }
    }),
    200,
  );
});
