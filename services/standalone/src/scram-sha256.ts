import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The server side of SCRAM-SHA-256 (RFC 5802/7677), the exchange PostgreSQL uses for
 * passwords: the password never crosses the wire, and a server that does not know it cannot
 * answer the client's final check, so a look-alike listener learns nothing.
 * Channel binding (SCRAM-SHA-256-PLUS) is not offered: the gate speaks plaintext on loopback.
 */
export interface ScramVerifier {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface ScramExchange {
  /** The GS2 header the client sent ("n,," or "y,,"), bound again in its final message. */
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
}

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
const ITERATIONS = 4096;
// Printable ASCII except ',' (RFC 5802's "printable"): what a nonce may hold.
const NONCE = /^[\x21-\x2b\x2d-\x7e]{8,256}$/;

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();

/** Computed once per process: PBKDF2 is deliberately slow, the keys are all a check needs. */
export function scramVerifier(password: string): ScramVerifier {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, 'sha256');
  return {
    salt,
    iterations: ITERATIONS,
    storedKey: createHash('sha256').update(hmac(salted, 'Client Key')).digest(),
    serverKey: hmac(salted, 'Server Key'),
  };
}

/**
 * client-first-message: gs2-header "n,," (no channel binding) or "y,," (the client could
 * bind but the server did not offer it), then "n=<user>,r=<nonce>". Undefined when malformed
 * or asking for channel binding ("p=…").
 */
export function startScramExchange(
  verifier: ScramVerifier,
  clientFirst: string,
): ScramExchange | undefined {
  const match = /^([ny]),,(n=[^,]*,r=([^,]*)(?:,.*)?)$/.exec(clientFirst);
  if (!match) return undefined;
  const [, flag, clientFirstBare, clientNonce] = match;
  if (!flag || !clientFirstBare || !clientNonce || !NONCE.test(clientNonce)) return undefined;
  const nonce = clientNonce + randomBytes(18).toString('base64');
  const serverFirst = `r=${nonce},s=${verifier.salt.toString('base64')},i=${verifier.iterations}`;
  return { gs2Header: `${flag},,`, clientFirstBare, serverFirst, nonce };
}

/**
 * client-final-message "c=<base64 gs2 header>,r=<nonce>,p=<proof>": the proof is
 * ClientKey XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must equal StoredKey.
 * Returns the server-final-message ("v=<signature>") when it holds, else undefined.
 */
export function finishScramExchange(
  verifier: ScramVerifier,
  exchange: ScramExchange,
  clientFinal: string,
): string | undefined {
  const match = /^(c=([^,]*),r=([^,]*)(?:,[^p][^,]*)*),p=([A-Za-z0-9+/=]+)$/.exec(clientFinal);
  if (!match) return undefined;
  const [, withoutProof, binding, nonce, proofText] = match;
  if (binding !== Buffer.from(exchange.gs2Header).toString('base64')) return undefined;
  if (nonce !== exchange.nonce || !withoutProof || !proofText) return undefined;
  const proof = Buffer.from(proofText, 'base64');
  if (proof.length !== verifier.storedKey.length) return undefined;
  const authMessage = `${exchange.clientFirstBare},${exchange.serverFirst},${withoutProof}`;
  const signature = hmac(verifier.storedKey, authMessage);
  const clientKey = Buffer.from(proof.map((b, i) => b ^ (signature[i] ?? 0)));
  const storedKey = createHash('sha256').update(clientKey).digest();
  if (!timingSafeEqual(storedKey, verifier.storedKey)) return undefined;
  return `v=${hmac(verifier.serverKey, authMessage).toString('base64')}`;
}
