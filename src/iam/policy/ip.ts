// IPv4 and IPv6 addresses and CIDR blocks for the IpAddress / NotIpAddress operators.
// Addresses become bigints so one containment test serves both families. An
// IPv4-mapped IPv6 address (::ffff:192.0.2.1, as Node reports dual-stack peers) counts
// as the IPv4 address it carries.

export interface IpValue {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  network: bigint;
  prefix: number;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  let text = s;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // Embedded IPv4 in the last 32 bits becomes two hex groups.
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    const v4 = lastColon >= 0 ? parseV4(text.slice(lastColon + 1)) : undefined;
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const group = (h: string): bigint[] | undefined => {
    if (h === '') return [];
    const out: bigint[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(BigInt(parseInt(g, 16)));
    }
    return out;
  };
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const known = head.length + rest.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined;
  const groups = [...head, ...Array<bigint>(8 - known).fill(0n), ...rest];
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

export function parseIp(s: string): IpValue | undefined {
  const t = s.trim();
  if (t.includes(':')) {
    const v = parseV6(t);
    if (v === undefined) return undefined;
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  const v = parseV4(t);
  return v === undefined ? undefined : { family: 4, value: v };
}

/** "203.0.113.0/24", "2001:db8::/32", or a bare address (a /32 or /128 block). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const addr = parseIp(slash >= 0 ? s.slice(0, slash) : s);
  if (!addr) return undefined;
  const bits = addr.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    const mapped = addr.family === 4 && s.slice(0, slash).includes(':');
    if (!/^\d{1,3}$/.test(p) || Number(p) > (mapped ? 128 : bits)) return undefined;
    // A mapped ::ffff:a.b.c.d/n block keeps its meaning on the IPv4 side.
    prefix = mapped ? Math.max(0, Number(p) - 96) : Number(p);
  }
  const shift = BigInt(bits - prefix);
  return { family: addr.family, network: (addr.value >> shift) << shift, prefix };
}

export function cidrContains(block: Cidr, ip: IpValue): boolean {
  if (block.family !== ip.family) return false;
  const shift = BigInt((block.family === 4 ? 32 : 128) - block.prefix);
  return ip.value >> shift === block.network >> shift;
}
