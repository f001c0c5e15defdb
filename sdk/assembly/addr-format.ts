// Address text as a new string (Tuple.srcString etc.), apart from the renderers: tuple.ts needs
// it and render.ts needs Tuple, so it cannot live in render.ts without an import cycle.
import { ByteBuf } from "./buf";

// Scratch for the allocating conveniences.
let scratch: ByteBuf | null = null;
/** Format an address (4 or 16 bytes at p) as inet_ntop writes it, as a new string. Allocates. */
export function formatAddr(p: usize, len: i32): string {
  if (!scratch) scratch = new ByteBuf(64);
  const s = scratch!;
  s.reset();
  s.addr(p, len);
  return s.toString();
}
