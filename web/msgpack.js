// msgpack.js: MessagePack (https://msgpack.org) for hotpot.js's msgpack
// codec, with no dependencies. It maps msgpack onto the values JSON has, as
// the node does at its REST edge: maps become objects (keys as strings),
// every integer a number (beyond 2^53 it is rounded, as JSON.parse rounds),
// bin a Uint8Array. Extension types are not supported.

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * Encodes a value as msgpack, as JSON.stringify would see it: undefined,
 * functions and symbols in an object are left out (elsewhere they are nil),
 * toJSON is honoured, whole numbers take the smallest integer form, other
 * numbers are float64. A Uint8Array or ArrayBuffer is bin.
 * @param {any} value
 * @returns {Uint8Array}
 */
export function encode(value) {
  const w = new Writer();
  w.value(value);
  return w.bytes();
}

/**
 * Decodes one msgpack value that fills bytes exactly.
 * @param {Uint8Array} bytes
 * @returns {any}
 * @throws {Error} when bytes are not one msgpack value.
 */
export function decode(bytes) {
  const r = new Reader(bytes);
  const value = r.value();
  if (r.off !== bytes.length) throw new Error("msgpack: " + (bytes.length - r.off) + " bytes after the value");
  return value;
}

/** Writes msgpack into a buffer that grows. */
class Writer {
  constructor() {
    this.buf = new Uint8Array(64);
    this.view = new DataView(this.buf.buffer);
    this.off = 0;
  }

  /** @returns {Uint8Array} what was written. */
  bytes() {
    return this.buf.subarray(0, this.off);
  }

  /**
   * Makes room for n more bytes and returns where they start.
   * @param {number} n
   * @returns {number}
   */
  room(n) {
    if (this.off + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.off + n));
      bigger.set(this.buf);
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.off;
    this.off += n;
    return at;
  }

  /** @param {any} v */
  value(v) {
    if (v !== null && typeof v === "object" && typeof v.toJSON === "function") v = v.toJSON();
    switch (typeof v) {
      case "boolean":
        return this.byte(v ? 0xc3 : 0xc2);
      case "number":
        return Number.isSafeInteger(v) ? this.int(v) : this.float(v);
      case "bigint":
        return this.bigint(v);
      case "string":
        return this.str(v);
      case "object":
        if (v === null) return this.byte(0xc0);
        if (v instanceof ArrayBuffer) v = new Uint8Array(v);
        if (v instanceof Uint8Array) return this.bin(v);
        if (Array.isArray(v)) return this.array(v);
        return this.map(v);
      default: // undefined, functions and symbols, as JSON.stringify makes them null in an array
        return this.byte(0xc0);
    }
  }

  /** @param {number} b */
  byte(b) {
    const at = this.room(1); // first: it may replace this.buf
    this.buf[at] = b;
  }

  /**
   * A header: the byte c, then size in n bytes (0, 1, 2 or 4), big-endian.
   * @param {number} c
   * @param {number} n
   * @param {number} size
   */
  head(c, n, size) {
    const at = this.room(1 + n);
    this.buf[at] = c;
    if (n === 1) this.view.setUint8(at + 1, size);
    else if (n === 2) this.view.setUint16(at + 1, size);
    else if (n === 4) this.view.setUint32(at + 1, size);
  }

  /** @param {number} v a safe integer. */
  int(v) {
    if (v >= 0) {
      if (v < 0x80) return this.byte(v);
      if (v < 0x100) return this.head(0xcc, 1, v);
      if (v < 0x10000) return this.head(0xcd, 2, v);
      if (v < 0x100000000) return this.head(0xce, 4, v);
      return this.bigint(BigInt(v));
    }
    if (v >= -0x20) return this.byte(v & 0xff);
    if (v >= -0x80) return this.head(0xd0, 1, v & 0xff);
    if (v >= -0x8000) return this.head(0xd1, 2, v & 0xffff);
    if (v >= -0x80000000) return this.head(0xd2, 4, v >>> 0);
    return this.bigint(BigInt(v));
  }

  /** @param {bigint} v */
  bigint(v) {
    const at = this.room(9);
    if (v >= 0n) {
      this.buf[at] = 0xcf;
      this.view.setBigUint64(at + 1, BigInt.asUintN(64, v));
    } else {
      this.buf[at] = 0xd3;
      this.view.setBigInt64(at + 1, BigInt.asIntN(64, v));
    }
  }

  /** @param {number} v */
  float(v) {
    const at = this.room(9);
    this.buf[at] = 0xcb;
    this.view.setFloat64(at + 1, v);
  }

  /** @param {string} s */
  str(s) {
    const b = utf8Encoder.encode(s);
    if (b.length < 0x20) this.byte(0xa0 | b.length);
    else this.sized(b.length, 0xd9, 0xda, 0xdb);
    this.raw(b);
  }

  /** @param {Uint8Array} b */
  bin(b) {
    this.sized(b.length, 0xc4, 0xc5, 0xc6);
    this.raw(b);
  }

  /** @param {Uint8Array} b bytes to write as they are. */
  raw(b) {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }

  /** @param {any[]} a */
  array(a) {
    if (a.length < 0x10) this.byte(0x90 | a.length);
    else this.sized(a.length, 0, 0xdc, 0xdd);
    for (const v of a) this.value(v);
  }

  /** @param {object} o */
  map(o) {
    const entries = Object.entries(o).filter(([, v]) => v !== undefined && typeof v !== "function" && typeof v !== "symbol");
    if (entries.length < 0x10) this.byte(0x80 | entries.length);
    else this.sized(entries.length, 0, 0xde, 0xdf);
    for (const [k, v] of entries) {
      this.str(k);
      this.value(v);
    }
  }

  /**
   * The header of a string, bin, array or map of size, in the smallest of
   * its 8-, 16- and 32-bit forms (c8 0: none).
   * @param {number} size
   * @param {number} c8
   * @param {number} c16
   * @param {number} c32
   */
  sized(size, c8, c16, c32) {
    if (c8 && size < 0x100) this.head(c8, 1, size);
    else if (size < 0x10000) this.head(c16, 2, size);
    else this.head(c32, 4, size);
  }
}

/** Reads msgpack from bytes. */
class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.off = 0;
  }

  /**
   * Moves past n bytes and returns where they start.
   * @param {number} n
   * @returns {number}
   * @throws {Error} when fewer are left.
   */
  take(n) {
    const at = this.off;
    if (n > this.bytes.length - at) throw new Error("msgpack: the data ends early at byte " + at);
    this.off += n;
    return at;
  }

  /** @returns {any} */
  value() {
    const c = this.bytes[this.take(1)];
    if (c < 0x80) return c;
    if (c < 0x90) return this.map(c & 0x0f);
    if (c < 0xa0) return this.array(c & 0x0f);
    if (c < 0xc0) return this.str(c & 0x1f);
    if (c >= 0xe0) return c - 0x100;
    const v = this.view;
    switch (c) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(v.getUint8(this.take(1)));
      case 0xc5:
        return this.bin(v.getUint16(this.take(2)));
      case 0xc6:
        return this.bin(v.getUint32(this.take(4)));
      case 0xca:
        return v.getFloat32(this.take(4));
      case 0xcb:
        return v.getFloat64(this.take(8));
      case 0xcc:
        return v.getUint8(this.take(1));
      case 0xcd:
        return v.getUint16(this.take(2));
      case 0xce:
        return v.getUint32(this.take(4));
      case 0xcf:
        return Number(v.getBigUint64(this.take(8)));
      case 0xd0:
        return v.getInt8(this.take(1));
      case 0xd1:
        return v.getInt16(this.take(2));
      case 0xd2:
        return v.getInt32(this.take(4));
      case 0xd3:
        return Number(v.getBigInt64(this.take(8)));
      case 0xd9:
        return this.str(v.getUint8(this.take(1)));
      case 0xda:
        return this.str(v.getUint16(this.take(2)));
      case 0xdb:
        return this.str(v.getUint32(this.take(4)));
      case 0xdc:
        return this.array(v.getUint16(this.take(2)));
      case 0xdd:
        return this.array(v.getUint32(this.take(4)));
      case 0xde:
        return this.map(v.getUint16(this.take(2)));
      case 0xdf:
        return this.map(v.getUint32(this.take(4)));
      default: // 0xc1 (never used) and the extension types
        throw new Error("msgpack: unsupported type 0x" + c.toString(16) + " at byte " + (this.off - 1));
    }
  }

  /** @param {number} n @returns {string} */
  str(n) {
    const at = this.take(n);
    return utf8Decoder.decode(this.bytes.subarray(at, at + n));
  }

  /** @param {number} n @returns {Uint8Array} */
  bin(n) {
    const at = this.take(n);
    return this.bytes.slice(at, at + n);
  }

  /** @param {number} n @returns {any[]} */
  array(n) {
    const a = new Array(n);
    for (let i = 0; i < n; i++) a[i] = this.value();
    return a;
  }

  /** @param {number} n @returns {object} */
  map(n) {
    const entries = new Array(n);
    for (let i = 0; i < n; i++) entries[i] = [String(this.value()), this.value()];
    return Object.fromEntries(entries); // own properties, "__proto__" too
  }
}
