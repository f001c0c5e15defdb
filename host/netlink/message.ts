// nlmsghdr framing: write headers into an Encoder, walk whole messages in a receive buffer.
import { Encoder, align4 } from './attr.js';
import { NLMSG_HDRLEN } from './constants.js';

export interface MessageHeader {
  /** Offset of the header in the buffer. */
  offset: number;
  length: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** nfnetlink: every message carries a 4-byte nfgenmsg after the nlmsghdr. */
export const NFGENMSG_LEN = 4;

/**
 * Starts a message: nlmsghdr + nfgenmsg. Returns its offset; call `endMessage` when its
 * attributes are written. `version` 1 makes the kernel honour `family` on filtered deletes.
 */
export function beginMessage(enc: Encoder, type: number, flags: number, seq: number, family: number, version = 0): number {
  const at = enc.reserve(NLMSG_HDRLEN + NFGENMSG_LEN);
  const v = enc.view;
  v.setUint32(at, 0, true);
  v.setUint16(at + 4, type, true);
  v.setUint16(at + 6, flags, true);
  v.setUint32(at + 8, seq >>> 0, true);
  v.setUint32(at + 12, 0, true);
  enc.buf[at + 16] = family;
  enc.buf[at + 17] = version;
  v.setUint16(at + 18, 0, false); // res_id
  return at;
}

export function endMessage(enc: Encoder, at: number): void {
  enc.view.setUint32(at, enc.len - at, true);
}

/**
 * Walks the whole netlink messages in `buf[0, len)`. Stops (and sets `malformed`) at a
 * header whose length is too short or runs past the data: nothing is read outside it.
 */
export class MessageReader {
  readonly view: DataView;
  pos = 0;
  malformed = false;
  readonly header: MessageHeader = { offset: 0, length: 0, type: 0, flags: 0, seq: 0, pid: 0 };

  constructor(readonly buf: Uint8Array, readonly len: number = buf.length) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (len > buf.length) this.len = buf.length;
  }

  /** Advances to the next message; its header is in `this.header` (reused object). */
  next(): boolean {
    if (this.pos + NLMSG_HDRLEN > this.len) {
      if (this.pos < this.len) this.malformed = true;
      return false;
    }
    const length = this.view.getUint32(this.pos, true);
    if (length < NLMSG_HDRLEN || length > this.len - this.pos) {
      this.malformed = true;
      return false;
    }
    const h = this.header;
    h.offset = this.pos;
    h.length = length;
    h.type = this.view.getUint16(this.pos + 4, true);
    h.flags = this.view.getUint16(this.pos + 6, true);
    h.seq = this.view.getUint32(this.pos + 8, true);
    h.pid = this.view.getUint32(this.pos + 12, true);
    this.pos = Math.min(this.len, this.pos + align4(length));
    return true;
  }

  /** The current message, header included (a view, no copy). */
  message(): Uint8Array {
    return this.buf.subarray(this.header.offset, this.header.offset + this.header.length);
  }
}

/** Whole messages in a buffer, as views. Malformed tails are dropped, never read. */
export function* splitMessages(buf: Uint8Array, len = buf.length): Generator<Uint8Array> {
  const r = new MessageReader(buf, len);
  while (r.next()) yield r.message();
}
