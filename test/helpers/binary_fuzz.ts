// Seeded binary-protocol requests for the fuzz test (test/integration/fuzz.test.ts): mostly well
// formed frames of every opcode, with wrong extras, overlong and empty keys, huge or short body
// lengths, bad magic, unknown opcodes, SASL bodies, quiet floods and values past the item limit.
import { deltaExtras, frame, Op, storeExtras, u32Extras, type Request } from "./binary.ts";
import type { Prng } from "./prng.ts";

const opcodes = Object.values(Op);
const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);

/** The extras length each opcode takes (memcached 1.6). */
function extrasFor(rng: Prng, opcode: number): Uint8Array {
  switch (opcode) {
    case Op.SET: case Op.ADD: case Op.REPLACE: case Op.SETQ: case Op.ADDQ: case Op.REPLACEQ:
      return storeExtras(rng.int(0, 0xffffffff), rng.pick([0, 100, 0xffffffff, 2_592_001]));
    case Op.INCREMENT: case Op.DECREMENT: case Op.INCREMENTQ: case Op.DECREMENTQ:
      return deltaExtras(BigInt(rng.int(0, 1000)), rng.chance(0.1) ? 0xffffffffffffffffn : BigInt(rng.int(0, 99)), rng.pick([0, 10, 0xffffffff]));
    case Op.TOUCH: case Op.GAT: case Op.GATQ: case Op.GATK: case Op.GATKQ: case Op.VERBOSITY:
      return u32Extras(rng.int(0, 1000));
    case Op.FLUSH: case Op.FLUSHQ:
      return u32Extras(0xfffffff0); // a flush at a time far ahead: the known key must live on
  }
  return new Uint8Array(0);
}

function key(rng: Prng, opcode: number): string {
  if (rng.chance(0.03)) return "o".repeat(rng.int(251, 400));
  if (opcode === Op.SASL_AUTH || opcode === Op.SASL_STEP) return rng.pick(["PLAIN", "CRAM-MD5", ""]);
  if (opcode === Op.STAT) return rng.pick(["", "items", "slabs", "settings", "reset", "detail dump", "nonsense"]);
  if ([Op.NOOP, Op.VERSION, Op.QUIT, Op.QUITQ, Op.FLUSH, Op.FLUSHQ, Op.SASL_LIST_MECHS].includes(opcode as never)) {
    return rng.chance(0.95) ? "" : "k0";
  }
  return rng.chance(0.03) ? "" : rng.pick(keys);
}

function one(rng: Prng): Uint8Array {
  const opcode = rng.chance(0.05) ? rng.int(0, 255) : rng.pick(opcodes);
  const r: Request = { opcode, key: key(rng, opcode), opaque: rng.int(0, 0xffffffff) };
  const flush = opcode === Op.FLUSH || opcode === Op.FLUSHQ;
  r.extras = flush || rng.chance(0.93) ? extrasFor(rng, opcode) : new Uint8Array(rng.int(0, 30));
  const stores = [Op.SET, Op.ADD, Op.REPLACE, Op.SETQ, Op.ADDQ, Op.REPLACEQ, Op.APPEND, Op.PREPEND, Op.APPENDQ, Op.PREPENDQ];
  if (stores.includes(opcode as never) || opcode === Op.SASL_AUTH || rng.chance(0.03)) {
    r.value = Buffer.alloc(rng.int(0, rng.chance(0.1) ? 1_100_000 : 64), 0x61 + rng.int(0, 25));
  }
  if (rng.chance(0.2)) r.cas = BigInt(rng.int(0, 1 << 30));
  if (rng.chance(0.01)) r.magic = rng.pick([0x81, 0x00, 0x47]);
  if (rng.chance(0.02)) {
    r.bodylen = rng.pick([0, 1, 0xffffffff, 2_000_000, rng.int(0, 300)]); // lies about its body
  }
  return frame(r);
}

/** One request: a frame, or a pipeline of up to 50 (a quiet flood ends with a noop). */
export function binaryRequest(rng: Prng): Uint8Array {
  if (rng.chance(0.05)) {
    const quiet = Array.from({ length: rng.int(10, 500) }, () =>
      frame({ opcode: Op.SETQ, key: rng.pick(keys), extras: storeExtras(0, 0), value: "v" }));
    return Buffer.concat([...quiet, frame({ opcode: Op.NOOP })]);
  }
  const n = rng.chance(0.2) ? rng.int(2, 50) : 1;
  return Buffer.concat(Array.from({ length: n }, () => one(rng)));
}

/** What a fuzzing connection sends first, so the server negotiates binary. */
export const binary_opening = frame({ opcode: Op.NOOP });
