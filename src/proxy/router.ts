// Where a key goes: its main server by ketama over the -s list, its backup by the same ketama over
// the -b list. Nothing is ever rehashed: when a main server is down its keys go to their backup,
// never to another main server (so the other servers' keys stay where clients expect them).
//
// Contract: `place(buf, off, len)` hashes the key once and fills `placement` (valid until the next
// call). `placement.backup` is null without backups, and when the backup is the main server itself.

import { Continuum } from "./ketama.ts";
import { md5Word0 } from "./md5.ts";
import type { Backend } from "./backend.ts";

export interface Placement {
  main: Backend;
  backup: Backend | null;
  /** Indexes into mains / backups (-1: no backup). */
  main_index: number;
  backup_index: number;
}

export class Router {
  readonly mains: readonly Backend[];
  readonly backups: readonly Backend[];
  readonly main_ring: Continuum;
  readonly backup_ring: Continuum | null;
  /** Look a main server's misses up on the backup and write hits back (--no-backup-fill: off). */
  readonly backup_fill: boolean;
  readonly placement: Placement;

  constructor(mains: readonly Backend[], backups: readonly Backend[], backup_fill: boolean) {
    if (mains.length === 0) throw new RangeError("router: no main servers");
    this.mains = mains;
    this.backups = backups;
    this.main_ring = new Continuum(mains.map((b) => b.address));
    this.backup_ring = backups.length > 0 ? new Continuum(backups.map((b) => b.address)) : null;
    this.backup_fill = backup_fill;
    this.placement = { main: mains[0]!, backup: null, main_index: 0, backup_index: -1 };
  }

  place(buf: Uint8Array, off: number, len: number): Placement {
    const hash = md5Word0(buf, off, len);
    const p = this.placement;
    p.main_index = this.main_ring.lookup(hash);
    p.main = this.mains[p.main_index]!;
    p.backup = null;
    p.backup_index = -1;
    if (this.backup_ring !== null) {
      const backup_index = this.backup_ring.lookup(hash);
      const backup = this.backups[backup_index]!;
      if (backup.name !== p.main.name) {
        p.backup = backup;
        p.backup_index = backup_index;
      }
    }
    return p;
  }

  /** Every distinct server, mains first (flush_all, verbosity). */
  everyServer(): Backend[] {
    const seen = new Set<string>();
    const all: Backend[] = [];
    for (const backend of [...this.mains, ...this.backups]) {
      if (seen.has(backend.name)) continue;
      seen.add(backend.name);
      all.push(backend);
    }
    return all;
  }
}
