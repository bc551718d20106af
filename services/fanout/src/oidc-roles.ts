import { hasControlCharacters, MAX_ASSIGNEE_LENGTH } from '@tripwire/wire';
import type { Operator } from './operator-auth.js';

export type RoleMapping =
  | { ok: true; operator: Operator }
  | { ok: false; reason: 'no_role' | 'no_name'; name: string | null };

/**
 * A signed-in person's TripWire identity from their provider's claims: the name from
 * `preferred_username`, else `email`; admin if any value of the role claim is in
 * OIDC_ADMIN_VALUES, else responder if one is in OIDC_RESPONDER_VALUES, else viewer if one is in
 * OIDC_VIEWER_VALUES, else no role at all.
 */
export function operatorFromClaims(
  claims: Record<string, unknown>,
  mapping: {
    roleClaim: string;
    adminValues: string[];
    /** Optional: values that make a responder (runs non-shell response actions). */
    responderValues?: string[];
    viewerValues: string[];
  },
): RoleMapping {
  const name = operatorName(claims.preferred_username) ?? operatorName(claims.email);
  if (!name) return { ok: false, reason: 'no_name', name: null };
  const values = claimValues(claims, mapping.roleClaim);
  if (values.some((v) => mapping.adminValues.includes(v)))
    return { ok: true, operator: { name, role: 'admin' } };
  if (values.some((v) => mapping.responderValues?.includes(v)))
    return { ok: true, operator: { name, role: 'responder' } };
  if (values.some((v) => mapping.viewerValues.includes(v)))
    return { ok: true, operator: { name, role: 'viewer' } };
  return { ok: false, reason: 'no_role', name };
}

/** A usable operator name: one printable line, as long as an incident's assignee may be. */
function operatorName(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const name = value.trim();
  if (!name || name.length > MAX_ASSIGNEE_LENGTH || hasControlCharacters(name)) return null;
  return name;
}

/**
 * The role claim's values: an array of strings, or one string taken whole (an LDAP group's DN
 * holds commas, so a string is never split). A dotted name reaches into nested claims
 * (Keycloak's `realm_access.roles`) when no claim has that exact name.
 */
export function claimValues(claims: Record<string, unknown>, claim: string): string[] {
  let value: unknown = claims[claim];
  if (value === undefined && claim.includes('.')) {
    value = claim.split('.').reduce<unknown>((node, key) => {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
      return Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined;
    }, claims);
  }
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}
