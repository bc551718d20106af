/**
 * viewer reads; responder also runs the non-shell response actions (docs/response-actions.md);
 * admin does everything, shell tasks included.
 */
export const ROLES = ['viewer', 'responder', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (value: unknown): value is Role =>
  (ROLES as readonly unknown[]).includes(value);

/** Whether `role` has at least the rights of `needed` (viewer < responder < admin). */
export const roleAtLeast = (role: Role, needed: Role): boolean =>
  ROLES.indexOf(role) >= ROLES.indexOf(needed);

export interface Operator {
  /** Who: the token's subject, recorded as the actor in the audit log. */
  name: string;
  role: Role;
}

/** Which credential a request was authenticated by, so an open WebSocket can recheck it. */
export interface Credential {
  kind: 'jwt' | 'session' | 'api_token';
  /** The session's hash (hex) or the API token's id; the subject for a JWT. */
  ref: string;
  expiresAt: Date;
  /** A JWT's iat: an admin's revoke-all ends the JWTs issued up to it. */
  issuedAt?: Date;
}

export interface VerifiedOperator extends Operator {
  credential: Credential;
}

/**
 * How an operator appears in the audit log and on incidents (created_by, note
 * authors): the prefix keeps a token whose subject is, say, "ingest" apart from
 * the ingest service itself.
 */
export const auditActor = (operator: Pick<Operator, 'name'>) => `operator:${operator.name}`;

/** An API token acts as `token:<its name>`: never mistaken for a person of the same name. */
export const apiTokenOperatorName = (tokenName: string) => `token:${tokenName}`;

export class AuthError extends Error {
  constructor(
    message: string,
    readonly status: 401 | 403,
    readonly reason: string,
  ) {
    super(message);
  }
}
