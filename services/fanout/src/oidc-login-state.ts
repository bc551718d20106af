import { hkdfSync } from 'node:crypto';
import { parseCookie } from 'cookie';
import { EncryptJWT, jwtDecrypt } from 'jose';
import { OIDC_CALLBACK_PATH } from './oidc-settings.js';

/**
 * The cookie that carries a sign-in from "Sign in with …" to the callback: the PKCE verifier,
 * state and nonce, encrypted (A256GCM, so the browser can neither read the verifier nor forge a
 * state) and expiring. SameSite=Lax because the provider's redirect back is a cross-site
 * navigation; Path limits it to the callback. Kept in the browser, so any fan-out node can
 * finish a sign-in another one started.
 */
export const LOGIN_STATE_COOKIE = 'tw_oidc_login';

export interface LoginState {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Seals and opens login-state cookies with a key of their own, derived from OPERATOR_JWT_SECRET. */
export function createLoginStateSealer(secret: string, ttlS: number, cookieSecure: boolean) {
  const key = new Uint8Array(hkdfSync('sha256', secret, '', 'tripwire oidc login state v1', 32));
  const attributes = `HttpOnly; SameSite=Lax; Path=${OIDC_CALLBACK_PATH}${cookieSecure ? '; Secure' : ''}`;
  return {
    /** The Set-Cookie header for a new sign-in. */
    async seal(login: LoginState): Promise<string> {
      const token = await new EncryptJWT({ ...login })
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .setIssuedAt()
        .setExpirationTime(`${ttlS}s`)
        .encrypt(key);
      return `${LOGIN_STATE_COOKIE}=${token}; ${attributes}; Max-Age=${ttlS}`;
    },
    /** The sign-in a Cookie header carries; null when absent, forged, altered or expired. */
    async open(cookieHeader: string): Promise<LoginState | null> {
      const token = readCookie(cookieHeader);
      if (!token) return null;
      try {
        const { payload } = await jwtDecrypt(token, key, { keyManagementAlgorithms: ['dir'] });
        const { state, nonce, codeVerifier } = payload;
        if (typeof state !== 'string' || typeof nonce !== 'string') return null;
        if (typeof codeVerifier !== 'string') return null;
        return { state, nonce, codeVerifier };
      } catch {
        return null;
      }
    },
    /** Removes the cookie: each sign-in is tried once. */
    clear: () => `${LOGIN_STATE_COOKIE}=; ${attributes}; Max-Age=0`,
  };
}

export type LoginStateSealer = ReturnType<typeof createLoginStateSealer>;

function readCookie(header: string): string | undefined {
  if (!header) return undefined;
  // The value is a compact JWE (base64url and dots): nothing to decode, so nothing can throw.
  return parseCookie(header, { decode: (v) => v })[LOGIN_STATE_COOKIE];
}
