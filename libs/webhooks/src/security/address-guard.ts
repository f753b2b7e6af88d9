import { isAllowlistEntry } from '@app/config';
import dns, { type LookupAddress } from 'node:dns';
import net, { BlockList, isIP } from 'node:net';
import { buildConnector } from 'undici';

/** Loopback, private, link-local (cloud metadata: 169.254.169.254, fd00:ec2::254), CGNAT, multicast, reserved. */
const BLOCKED = new BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [['::', 128], ['::1', 128], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) {
  BLOCKED.addSubnet(prefix, bits, 'ipv6');
}

/** IPv4 inside IPv6 (::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d) is judged as the IPv4 address it reaches. */
function embeddedIpv4(address: string): string | null {
  const m = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!m) return null;
  if (m[1]) return m[1];
  const hi = parseInt(m[2], 16);
  const lo = parseInt(m[3], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function family(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

export function isPrivateAddress(address: string): boolean {
  const v4 = isIP(address) === 6 ? embeddedIpv4(address) : null;
  if (v4) return BLOCKED.check(v4, 'ipv4');
  return BLOCKED.check(address, family(address));
}

export class BlockedAddressError extends Error {
  readonly code = 'WEBHOOK_ADDRESS_BLOCKED';
  constructor(readonly hostname: string, readonly address: string) {
    super(`${hostname === address ? address : `${hostname} resolves to ${address}, which`} is a loopback, private, link-local or reserved address; allow it with OPSLEDGER_WEBHOOK_ALLOWLIST`);
  }
}

const stripBrackets = (host: string) => host.replace(/^\[(.*)\]$/, '$1');

/** OPSLEDGER_WEBHOOK_ALLOWLIST: host names (`*.example.com` too), addresses and CIDRs that may be reached over plain http or at private addresses. */
export class WebhookAllowlist {
  private readonly hosts: string[] = [];
  private readonly suffixes: string[] = [];
  private readonly networks = new BlockList();
  private hasNetworks = false;

  constructor(text: string) {
    for (const raw of text.split(',')) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      if (!isAllowlistEntry(entry)) throw new Error(`OPSLEDGER_WEBHOOK_ALLOWLIST: ${entry} is not a host name, address or CIDR`);
      const [address, bits] = entry.split('/');
      if (isIP(address)) {
        const f = family(address);
        this.networks.addSubnet(address, bits === undefined ? (f === 'ipv4' ? 32 : 128) : Number(bits), f);
        this.hasNetworks = true;
      } else if (address.startsWith('*.')) this.suffixes.push(address.slice(1));
      else this.hosts.push(address);
    }
  }

  allowsHost(hostname: string): boolean {
    const host = stripBrackets(hostname).toLowerCase().replace(/\.$/, '');
    return this.hosts.includes(host) || this.suffixes.some((s) => host.endsWith(s));
  }

  allowsAddress(address: string): boolean {
    if (!this.hasNetworks) return false;
    const v4 = isIP(address) === 6 ? embeddedIpv4(address) : null;
    return v4 ? this.networks.check(v4, 'ipv4') : this.networks.check(address, family(address));
  }

  /** May a connection for `hostname` go to `address`? */
  permitsAddress(hostname: string, address: string): boolean {
    return !isPrivateAddress(address) || this.allowsHost(hostname) || this.allowsAddress(address);
  }

  /** Plain http only for allow-listed hosts (or literal addresses inside an allow-listed network). */
  permitsPlainHttp(hostname: string): boolean {
    const host = stripBrackets(hostname);
    return this.allowsHost(host) || (isIP(host) !== 0 && this.allowsAddress(host));
  }
}

/** Why a target URL is refused when an endpoint is defined (null: acceptable). Host names are judged again at connect time. */
export function targetUrlProblem(text: string, allowlist: WebhookAllowlist): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'url must be an absolute http(s) URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'url must use https';
  if (url.username || url.password) return 'url must not carry credentials; send them in headers';
  if (url.protocol === 'http:' && !allowlist.permitsPlainHttp(url.hostname)) return `url must use https (plain http only for hosts in OPSLEDGER_WEBHOOK_ALLOWLIST)`;
  const host = stripBrackets(url.hostname);
  if (isIP(host) && !allowlist.permitsAddress(host, host)) return new BlockedAddressError(host, host).message;
  return null;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * The lookup net.connect uses: resolves, then keeps only permitted addresses. The socket connects to an
 * address checked here, so a DNS answer that changes between definition and delivery (rebinding) cannot
 * reach a private address.
 */
export function guardedLookup(allowlist: WebhookAllowlist) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const permitted = addresses.filter((a) => allowlist.permitsAddress(hostname, a.address));
      if (!permitted.length) return callback(Object.assign(new BlockedAddressError(hostname, addresses[0]?.address ?? 'none'), { errno: 0 }), []);
      if (options.all) callback(null, permitted);
      else callback(null, permitted[0].address, permitted[0].family);
    });
  };
}

/** undici connector: literal addresses are checked here (no lookup happens for them), names in guardedLookup. */
export function guardedConnector(allowlist: WebhookAllowlist, connectTimeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: connectTimeoutMs, lookup: guardedLookup(allowlist) as unknown as net.LookupFunction });
  return (options, callback) => {
    const host = stripBrackets(options.hostname);
    if (isIP(host) && !allowlist.permitsAddress(host, host)) {
      callback(new BlockedAddressError(host, host), null);
      return;
    }
    connect(options, callback);
  };
}
