import { lookup } from 'node:dns/promises';
import nodemailer from 'nodemailer';
import { checkLiteralHost, DestinationError, isPrivateAddress } from './destination-address.js';
import { messageText, type NotificationMessage } from './notification-message.js';
import type { PostPolicy } from './safe-post.js';

interface SmtpConfig {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  from: string;
  to: string[];
}

function smtpConfig(m: NotificationMessage): SmtpConfig {
  const c = m.route.config as Partial<SmtpConfig>;
  if (typeof c.host !== 'string' || !c.from || !Array.isArray(c.to) || c.to.length === 0)
    throw new DestinationError('route needs host, from and to');
  return { ...c, port: c.port ?? 587, secure: c.secure ?? false } as SmtpConfig;
}

/** The SMTP host under the same private-address rule as URLs; returns the address to use. */
async function smtpAddress(host: string, allowPrivate: boolean): Promise<string> {
  checkLiteralHost(host, allowPrivate);
  const { address } = await lookup(host);
  if (!allowPrivate && isPrivateAddress(address))
    throw new DestinationError(`refused: ${host} is a private address`);
  return address;
}

/**
 * E-mail over SMTP with nodemailer. Message-ID is derived from the idempotency key, so a
 * resend after a lost acknowledgement carries the same id (mail systems can dedupe on it).
 */
export async function sendEmail(m: NotificationMessage, policy: PostPolicy) {
  const c = smtpConfig(m);
  const address = await smtpAddress(c.host, policy.allowPrivate);
  const password = m.route.secrets.password;
  const transport = nodemailer.createTransport({
    host: address,
    port: c.port,
    secure: c.secure,
    // The certificate is checked against the configured name, not the resolved address.
    tls: { servername: c.host },
    ...(c.user && password ? { auth: { user: c.user, pass: password } } : {}),
    connectionTimeout: policy.timeoutMs,
    greetingTimeout: policy.timeoutMs,
    socketTimeout: policy.timeoutMs,
  });
  try {
    const text = messageText(m, 'none');
    await transport.sendMail({
      from: c.from,
      to: c.to,
      subject: text.split('\n')[0]!.slice(0, 200),
      text,
      html: `<pre>${messageText(m, 'html')}</pre>`,
      messageId: `<${m.idempotencyKey}@tripwire>`,
      headers: { 'X-Tripwire-Idempotency-Key': m.idempotencyKey },
    });
  } finally {
    transport.close();
  }
}
