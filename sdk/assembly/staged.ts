// Records staged for the batched hostcalls (delete, update, create): written per entry into a buffer
// allocated once, handed to the host when it fills and once per batch. A stage, and with it its
// hostcall, exists only once a plugin stages something in it: a plugin that never deletes does not
// import `delete` (see plugin.ts).
import {
  ctplug_delete, ctplug_update, ctplug_create, UPDATE_RECORD_SIZE, UPDATE_RECORD_FLAGS, UPDATE_RECORD_MARK,
  UPDATE_RECORD_MARK_MASK, UPDATE_RECORD_TIMEOUT, UPDATE_RECORD_FLAGS_MARK, UPDATE_RECORD_FLAGS_MARK_XOR,
  UPDATE_RECORD_FLAGS_TIMEOUT, UPDATE_RECORD_FLAGS_EXT, UPDATE_EXT_SIZE, UPDATE_EXT_FLAGS, UPDATE_EXT_FLAGS_STATUS,
  UPDATE_EXT_FLAGS_LABELS, UPDATE_EXT_FLAGS_STATE, UPDATE_EXT_STATUS, UPDATE_EXT_STATE, UPDATE_EXT_LABELS,
  UPDATE_EXT_LABELS_MASK, CREATE_RECORD_SIZE, CREATE_RECORD_FAMILY, CREATE_RECORD_PROTOCOL,
  CREATE_RECORD_TCP_STATE, CREATE_RECORD_FLAGS, CREATE_RECORD_FLAGS_ZONE, CREATE_RECORD_FLAGS_MARK,
  CREATE_RECORD_ZONE, CREATE_RECORD_SRC_PORT, CREATE_RECORD_DST_PORT, CREATE_RECORD_ICMP_ID,
  CREATE_RECORD_ICMP_TYPE, CREATE_RECORD_ICMP_CODE, CREATE_RECORD_MARK, CREATE_RECORD_TIMEOUT,
  CREATE_RECORD_STATUS, CREATE_RECORD_SRC, CREATE_RECORD_DST,
} from "./abi";
import { Entry } from "./entry";
import { IPPROTO_TCP, IPPROTO_SCTP, IPPROTO_DCCP } from "./ctnetlink";
import { parseAddr } from "./addr";
import { logError, logWarn } from "./log";
import { align4 } from "./bytes";

/**
 * One entry to create (Plugin.create; needs the "create" capability). The reply tuple is the
 * original swapped. Addresses as text; IPv4 and IPv6 must not be mixed.
 */
export class CreateSpec {
  protocol: i32 = 0;
  src: string = "";
  dst: string = "";
  sport: i32 = 0;
  dport: i32 = 0;
  icmpType: i32 = 0;
  icmpCode: i32 = 0;
  icmpId: i32 = 0;
  /** TCP state number (status.ts TCP_*), 0 = none. */
  tcpState: i32 = 0;
  hasZone: bool = false;
  zone: i32 = 0;
  hasMark: bool = false;
  mark: u32 = 0;
  timeout: u32 = 0;
  /** IPS_* bits; the host adds what the kernel requires (IPS_CONFIRMED). */
  status: u32 = 0;
}

/**
 * A change to an entry (Plugin.update; needs the "update" capability): only what is set changes.
 * The mark follows conntrack -U's rule, new = (old & ~markMask) ^ mark (bits of `mark` outside
 * `markMask` toggle); with markXor false the masked bits replace: (old & ~markMask) | (mark & markMask).
 */
export class UpdateSpec {
  hasMark: bool = false;
  mark: u32 = 0;
  markMask: u32 = 0xffffffff;
  markXor: bool = true;
  hasTimeout: bool = false;
  timeout: u32 = 0;
  /** IPS_* bits to set (SEEN_REPLY, ASSURED, FIXED_TIMEOUT); the kernel never clears one. */
  status: u32 = 0;
  /** Labels: new = (old & ~labelsMask) | (labels & labelsMask); bit n in byte n/8 at bit n%8. */
  hasLabels: bool = false;
  labels: StaticArray<u8> = new StaticArray<u8>(16);
  labelsMask: StaticArray<u8> = new StaticArray<u8>(16);
  /** The protocol state to set (tcp, sctp or dccp; numbered as the kernel numbers them). */
  hasState: bool = false;
  state: i32 = 0;

  /** Whether applying this to `e` would leave it as it is (conntrack -U skips such entries). */
  unchanged(e: Entry): bool {
    if (this.hasMark) {
      const old = e.mark;
      const next = this.markXor ? (old & ~this.markMask) ^ this.mark : (old & ~this.markMask) | (this.mark & this.markMask);
      if (next != old) return false;
    }
    if (this.hasTimeout && e.timeout != this.timeout) return false;
    if (this.status != 0 && (e.status | this.status) != e.status) return false;
    // Labels count as a change whatever they hold: conntrack -U updates (and counts) an entry
    // given --label-add/--label-del even when its labels stay as they are.
    if (this.hasLabels) return false;
    if (this.hasState) {
      const p = e.protocol;
      const now = p == IPPROTO_TCP ? e.tcpState : p == IPPROTO_SCTP ? e.sctpState : p == IPPROTO_DCCP ? e.dccpState : -1;
      if (now != this.state) return false;
    }
    return true;
  }
}

/** Delete staging size when the host never told us its batch size via ctplug_alloc. */
export const DELETE_BYTES_DEFAULT: i32 = 256 * 1024;

/**
 * Records staged for one batched hostcall (delete, update, create): written per entry into a
 * buffer allocated once, handed to the host when full and once per batch.
 */
class Staged {
  ptr: usize = 0;
  cap: i32 = 0;
  pos: i32 = 0;
  /** Records staged and not yet handed over. */
  count: i32 = 0;
  sent: u64 = 0;
  refused: u64 = 0;

  constructor(readonly what: string, private send: (ptr: i32, len: i32) => i32, private fixedCap: i32 = 0) {}

  /** Where `n` more bytes go (allocating once, handing over what is staged when full); 0 if `n` can never fit. */
  room(n: i32): usize {
    if (this.ptr == 0) {
      this.cap = this.fixedCap != 0 ? this.fixedCap : (largestAlloc > DELETE_BYTES_DEFAULT ? largestAlloc : DELETE_BYTES_DEFAULT);
      this.ptr = heap.alloc(<usize>this.cap);
    }
    if (this.pos + n > this.cap) this.flush();
    return n > this.cap ? 0 : this.ptr + <usize>this.pos;
  }

  /** The `n` bytes written at room() are one record. */
  commit(n: i32): void {
    this.pos += n;
    this.count++;
  }

  flush(): void {
    if (this.pos == 0) return;
    const r = this.send(<i32>this.ptr, this.pos);
    if (r < 0) {
      this.refused += <u64>this.count;
      logError(this.what + " refused by the host: status " + r.toString());
    } else this.sent += <u64>this.count;
    this.pos = 0;
    this.count = 0;
  }

  /** Handed over or staged. */
  get queued(): u64 { return this.sent + <u64>this.count; }
}

const CREATE_BATCH: i32 = 256;
/** The stages in use, flushed once per batch; each is made by the first record staged in it. */
const stages = new Array<Staged>();
let deletes: Staged | null = null;
let updates: Staged | null = null;
let creates: Staged | null = null;
function staged(s: Staged): Staged {
  stages.push(s);
  return s;
}
const ADDR_TMP = new StaticArray<u8>(16);

export function stageDelete(e: Entry): void {
  if (!deletes) deletes = staged(new Staged("delete", (p: i32, n: i32): i32 => ctplug_delete(p, n)));
  const stage = deletes!;
  const n = align4(e.len);
  const at = stage.room(n);
  if (at == 0) { logWarn("entry larger than the delete buffer; not deleted"); return; }
  // never copy past the message: align4 only adds padding the sender already counted
  memory.copy(at, e.ptr, <usize>e.len);
  if (n > e.len) memory.fill(at + <usize>e.len, 0, <usize>(n - e.len));
  stage.commit(n);
}

/** One UpdateRecord (+ UpdateExt when status, labels or state are set) and the entry's message. */
export function stageUpdate(e: Entry, u: UpdateSpec): void {
  if (!updates) updates = staged(new Staged("update", (p: i32, n: i32): i32 => ctplug_update(p, n)));
  const stage = updates!;
  const ext = u.status != 0 || u.hasLabels || u.hasState;
  const head = UPDATE_RECORD_SIZE + (ext ? UPDATE_EXT_SIZE : 0);
  const n = head + align4(e.len);
  const r = stage.room(n);
  if (r == 0) { logWarn("entry larger than the update buffer; not updated"); return; }
  memory.fill(r, 0, <usize>n);
  let flags: u32 = 0;
  if (u.hasMark) flags |= <u32>(u.markXor ? UPDATE_RECORD_FLAGS_MARK_XOR : UPDATE_RECORD_FLAGS_MARK);
  if (u.hasTimeout) flags |= <u32>UPDATE_RECORD_FLAGS_TIMEOUT;
  if (ext) flags |= <u32>UPDATE_RECORD_FLAGS_EXT;
  store<u32>(r + <usize>UPDATE_RECORD_FLAGS, flags);
  store<u32>(r + <usize>UPDATE_RECORD_MARK, u.mark);
  store<u32>(r + <usize>UPDATE_RECORD_MARK_MASK, u.markMask);
  store<u32>(r + <usize>UPDATE_RECORD_TIMEOUT, u.timeout);
  if (ext) {
    const x = r + <usize>UPDATE_RECORD_SIZE;
    let xf: u32 = 0;
    if (u.status != 0) xf |= <u32>UPDATE_EXT_FLAGS_STATUS;
    if (u.hasLabels) xf |= <u32>UPDATE_EXT_FLAGS_LABELS;
    if (u.hasState) xf |= <u32>UPDATE_EXT_FLAGS_STATE;
    store<u32>(x + <usize>UPDATE_EXT_FLAGS, xf);
    store<u32>(x + <usize>UPDATE_EXT_STATUS, u.status);
    store<u8>(x + <usize>UPDATE_EXT_STATE, <u8>u.state);
    memory.copy(x + <usize>UPDATE_EXT_LABELS, changetype<usize>(u.labels), 16);
    memory.copy(x + <usize>UPDATE_EXT_LABELS_MASK, changetype<usize>(u.labelsMask), 16);
  }
  memory.copy(r + <usize>head, e.ptr, <usize>e.len);
  stage.commit(n);
}

export function stageCreate(c: CreateSpec): bool {
  if (!creates) creates = staged(new Staged("create", (p: i32, n: i32): i32 => ctplug_create(p, n), CREATE_BATCH * CREATE_RECORD_SIZE));
  const stage = creates!;
  const r = stage.room(CREATE_RECORD_SIZE);
  memory.fill(r, 0, <usize>CREATE_RECORD_SIZE);
  const n1 = parseAddr(c.src, ADDR_TMP);
  if (n1 == 0) { logError("create: bad source address " + c.src); return false; }
  memory.copy(r + <usize>CREATE_RECORD_SRC, changetype<usize>(ADDR_TMP), <usize>n1);
  const n2 = parseAddr(c.dst, ADDR_TMP);
  if (n2 != n1) { logError("create: bad or mixed-family destination address " + c.dst); return false; }
  memory.copy(r + <usize>CREATE_RECORD_DST, changetype<usize>(ADDR_TMP), <usize>n2);
  store<u8>(r + <usize>CREATE_RECORD_FAMILY, <u8>(n1 == 4 ? 2 : 10));
  store<u8>(r + <usize>CREATE_RECORD_PROTOCOL, <u8>c.protocol);
  store<u8>(r + <usize>CREATE_RECORD_TCP_STATE, <u8>c.tcpState);
  let flags: u8 = 0;
  if (c.hasZone) flags |= <u8>CREATE_RECORD_FLAGS_ZONE;
  if (c.hasMark) flags |= <u8>CREATE_RECORD_FLAGS_MARK;
  store<u8>(r + <usize>CREATE_RECORD_FLAGS, flags);
  store<u16>(r + <usize>CREATE_RECORD_ZONE, <u16>c.zone);
  store<u16>(r + <usize>CREATE_RECORD_SRC_PORT, <u16>c.sport);
  store<u16>(r + <usize>CREATE_RECORD_DST_PORT, <u16>c.dport);
  store<u16>(r + <usize>CREATE_RECORD_ICMP_ID, <u16>c.icmpId);
  store<u8>(r + <usize>CREATE_RECORD_ICMP_TYPE, <u8>c.icmpType);
  store<u8>(r + <usize>CREATE_RECORD_ICMP_CODE, <u8>c.icmpCode);
  store<u32>(r + <usize>CREATE_RECORD_MARK, c.mark);
  store<u32>(r + <usize>CREATE_RECORD_TIMEOUT, c.timeout);
  store<u32>(r + <usize>CREATE_RECORD_STATUS, c.status);
  stage.commit(CREATE_RECORD_SIZE);
  return true;
}

/** Hands every stage in use to the host (once per batch, at init and at finish). */
export function flushStaged(): void {
  for (let i = 0; i < stages.length; i++) unchecked(stages[i]).flush();
}

/** The largest buffer the host asked the plugin to allocate: delete/update stages are made that big. */
let largestAlloc: i32 = 0;
export function noteAlloc(len: i32): void {
  if (len > largestAlloc) largestAlloc = len;
}

/** Records of one stage ("delete", "update", "create") handed over (or staged), or refused. */
export function stagedCount(what: string, refused: bool): u64 {
  for (let i = 0; i < stages.length; i++) {
    const s = unchecked(stages[i]);
    if (s.what == what) return refused ? s.refused : s.queued;
  }
  return 0;
}
