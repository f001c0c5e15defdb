// Addresses as text, the way conntrack prints them (inet_ntop): IPv4 dotted quads; IPv6 in RFC 5952
// form (lowercase, the longest run of two or more zero groups as ::, the first on a tie), with the
// IPv4-mapped and IPv4-compatible forms ending in a dotted quad.
const quad = (b: Uint8Array, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return quad(b, 0);
  if (b.length !== 16) throw new RangeError(`an address is 4 or 16 bytes, not ${b.length}`);
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  // ::ffff:a.b.c.d, and ::a.b.c.d when exactly the first six groups are zero (glibc's inet_ntop)
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || (g[5] === 0 && g[6] !== 0))) {
    return `::${g[5] ? 'ffff:' : ''}${quad(b, 12)}`;
  }
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}
