import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
}

/** A real HTTP receiver (webhook, Slack or PagerDuty format: it records what arrives). */
export class HttpReceiver {
  readonly received: ReceivedRequest[] = [];
  private server: Server | undefined;
  /** Answers every request with this (a redirect, an error, or null: never answer). */
  answer: { status: number; headers?: Record<string, string> } | null = { status: 200 };

  async listen(port = 0): Promise<number> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        this.received.push({ headers: req.headers, raw, body: JSON.parse(raw || '{}') });
        if (this.answer) res.writeHead(this.answer.status, this.answer.headers).end('ok');
      });
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  url(port: number, path = '/hook') {
    return `http://127.0.0.1:${port}${path}`;
  }

  async close() {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
    this.server = undefined;
  }

  /** Idempotency keys as received, duplicates included. */
  keys() {
    return this.received.map((r) => String(r.headers['idempotency-key']));
  }
}

export interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
}

/** A real SMTP server (smtp-server): accepts every message, no TLS, no auth. */
export async function startSmtpReceiver() {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as AddressInfo;
  return { mails, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}
