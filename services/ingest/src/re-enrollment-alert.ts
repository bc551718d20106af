import { createHash } from 'node:crypto';
import type { Host, NewAlert } from '@tripwire/storage';

/** The rule name of the alert a re-enrollment raises (docs/security.md, "Agent enrollment"). */
export const RE_ENROLLMENT_RULE = 'tripwire.re-enrollment';

export interface ReEnrollment {
  host: Host;
  method: 'certificate' | 'approval';
  peer: string;
  /** Approval: the request id (also the alert id, so a retried registration stores it once). */
  requestId?: string;
  approvedBy?: string | null;
  /** Certificate: its subject and fingerprint. */
  certificate?: { subject: string; fingerprint256: string };
  /** The token hash being replaced: with the certificate, it makes the alert id repeatable. */
  replacedTokenHash: Buffer | null;
}

/** A UUID (version 8, "custom") from a hash, so the same re-enrollment always gets the same id. */
function uuidFrom(text: string): string {
  const b = createHash('sha256').update(text).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The CRITICAL alert that tells operators a host's identity was handed to a new agent. It is
 * stored through the normal alert path (batcher, then the bus: it shows live) before the new
 * token is issued, so a re-enrollment never happens unseen. PROCESS: it is the agent process that
 * changed; the rule name says what happened.
 */
export function reEnrollmentAlert(r: ReEnrollment): NewAlert {
  const alertId =
    r.requestId ??
    uuidFrom(
      `${r.host.hostId}:${r.replacedTokenHash?.toString('hex') ?? ''}:${r.certificate?.fingerprint256 ?? ''}`,
    );
  return {
    alertId,
    hostId: r.host.hostId,
    occurredAtUs: Date.now() * 1000,
    tripwireType: 'PROCESS',
    severity: 'CRITICAL',
    ruleName: RE_ENROLLMENT_RULE,
    eventDetailJson: JSON.stringify({
      event:
        'agent re-enrolled: a new agent took over this host, the previous agent token is revoked',
      hostname: r.host.hostname,
      method: r.method,
      peer: r.peer,
      ...(r.requestId ? { enrollment_request_id: r.requestId, approved_by: r.approvedBy } : {}),
      ...(r.certificate
        ? {
            certificate_subject: r.certificate.subject,
            certificate_sha256: r.certificate.fingerprint256,
          }
        : {}),
    }),
  };
}
