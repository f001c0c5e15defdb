// Unaligned big-endian / little-endian loads. Callers check bounds; these do not.

// @ts-ignore: decorator
@inline export function be16(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p));
}
// @ts-ignore: decorator
@inline export function be32(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}
// @ts-ignore: decorator
@inline export function be64(p: usize): u64 {
  return bswap<u64>(load<u64>(p));
}
// @ts-ignore: decorator
@inline export function align4(n: i32): i32 {
  return (n + 3) & ~3;
}
