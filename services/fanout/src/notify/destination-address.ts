import { lookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Destinations are operator input, and the fan-out sits inside the network: a route must not
 * become a way to reach the metadata service or an internal admin port. Addresses in these
 * ranges are refused unless NOTIFY_ALLOW_PRIVATE_DESTINATIONS is set (an on-premises SMTP relay,
 * the tests' local receivers).
 */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

export class DestinationError extends Error {}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family !== 6) return true;
  // IPv4-mapped (::ffff:10.0.0.1) is judged as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? PRIVATE.check(mapped[1]!, 'ipv4') : PRIVATE.check(address, 'ipv6');
}

/** Refuses what is not http(s) or carries credentials in the URL; returns the parsed URL. */
export function checkDestinationUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationError('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new DestinationError('only http and https destinations are allowed');
  if (url.username || url.password)
    throw new DestinationError('credentials in the URL are not allowed');
  return url;
}

/**
 * A DNS lookup for sockets that refuses private addresses: checked on the address actually
 * connected to, so a name that resolves differently later (DNS rebinding) is caught too.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: false }, (err, address, family) => {
      if (err) return callback(err, '', 0);
      if (!allowPrivate && isPrivateAddress(address as string))
        return callback(new DestinationError(`refused: ${hostname} is a private address`), '', 0);
      callback(null, address as string, family);
    });
  };
}

/** An IP literal skips the lookup: check it here. */
export function checkLiteralHost(host: string, allowPrivate: boolean) {
  const bare = host.replace(/^\[|\]$/g, '');
  if (!allowPrivate && isIP(bare) && isPrivateAddress(bare))
    throw new DestinationError(`refused: ${bare} is a private address`);
}
