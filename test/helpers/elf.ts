import assert from 'node:assert/strict';
import { closeSync, openSync, readSync } from 'node:fs';

/** ELF `e_machine` of AArch64 (x86-64 is 62). */
export const AARCH64 = 183;

/** ELF e_machine of a shared object; asserts the file is ELF at all. */
export function elfMachine(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(20);
    readSync(fd, head, 0, 20, 0);
    assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is an ELF file`);
    return head.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}
