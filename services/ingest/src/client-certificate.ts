import type { PeerCertificate } from 'node:tls';

/** A verified client certificate: the hostnames it names and its SHA-256 fingerprint. */
export interface ClientCertificate {
  /** The subject CN and every DNS subjectAltName, lower-cased (wildcards are not names). */
  names: string[];
  fingerprint256: string;
  subject: string;
}

const asList = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** `DNS:a.example, IP Address:10.0.0.1, DNS:b` → the DNS names. */
const dnsAltNames = (altNames: string | undefined): string[] =>
  (altNames ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));

/**
 * The client certificate of a call's TLS connection, or null. Only meaningful when ingest runs
 * with GRPC_TLS_CLIENT_CA_FILE: then the TLS handshake refused any certificate that CA did not
 * sign, so the names in it were vouched for by the CA.
 */
export function clientCertificate(call: {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
}): ClientCertificate | null {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (!cert) return null;
  const names = [...asList(cert.subject?.CN), ...dnsAltNames(cert.subjectaltname)]
    .map((n) => n.toLowerCase())
    .filter((n) => n.length > 0 && !n.includes('*'));
  return {
    names: [...new Set(names)],
    fingerprint256: cert.fingerprint256 ?? '',
    subject: asList(cert.subject?.CN).join(','),
  };
}

/** Whether the certificate names this hostname (exactly, ignoring case). */
export const certificateNamesHost = (cert: ClientCertificate | null, hostname: string): boolean =>
  cert?.names.includes(hostname.toLowerCase()) === true;
