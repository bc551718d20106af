import { describe, expect, it } from 'vitest';
import { claimValues, operatorFromClaims } from './oidc-roles.js';

const mapping = { roleClaim: 'groups', adminValues: ['sec-admins'], viewerValues: ['soc'] };

describe('operatorFromClaims', () => {
  it('makes admin win over viewer, and names the operator by preferred_username, else email', () => {
    expect(
      operatorFromClaims({ preferred_username: 'ada', groups: ['soc', 'sec-admins'] }, mapping),
    ).toEqual({ ok: true, operator: { name: 'ada', role: 'admin' } });
    expect(operatorFromClaims({ email: 'vic@example.com', groups: ['soc'] }, mapping)).toEqual({
      ok: true,
      operator: { name: 'vic@example.com', role: 'viewer' },
    });
  });

  it('maps OIDC_RESPONDER_VALUES to responder, below admin and above viewer', () => {
    const withResponders = { ...mapping, responderValues: ['ir-team'] };
    const role = (groups: string[]) =>
      operatorFromClaims({ preferred_username: 'r', groups }, withResponders);
    expect(role(['soc', 'ir-team'])).toEqual({
      ok: true,
      operator: { name: 'r', role: 'responder' },
    });
    expect(role(['ir-team', 'sec-admins'])).toMatchObject({ operator: { role: 'admin' } });
    expect(role(['soc'])).toMatchObject({ operator: { role: 'viewer' } });
  });

  it('refuses a person with no mapped value, or no usable name', () => {
    expect(operatorFromClaims({ preferred_username: 'm', groups: ['marketing'] }, mapping)).toEqual(
      { ok: false, reason: 'no_role', name: 'm' },
    );
    expect(operatorFromClaims({ preferred_username: 'm' }, mapping)).toMatchObject({
      reason: 'no_role',
    });
    for (const name of ['', '   ', 'a\nb', 'x'.repeat(129), 42])
      expect(
        operatorFromClaims({ preferred_username: name, groups: ['sec-admins'] }, mapping),
      ).toMatchObject({ ok: false, reason: 'no_name' });
  });

  it('reads a string claim whole (a DN holds commas) and a dotted path into nested claims', () => {
    expect(claimValues({ role: 'cn=ops,ou=groups' }, 'role')).toEqual(['cn=ops,ou=groups']);
    expect(claimValues({ realm_access: { roles: ['a', 1, 'b'] } }, 'realm_access.roles')).toEqual([
      'a',
      'b',
    ]);
    // An own property only: no walking up to Object.prototype.
    expect(claimValues({}, 'constructor.name')).toEqual([]);
    expect(claimValues({ groups: { length: 1, 0: 'sec-admins' } }, 'groups')).toEqual([]);
  });
});
