/**
 * The copies of a folder's columns for a directory check (src/store/folder/file_list.ts
 * copyColumns): the same octets as the table's arrays, in buffers of their own, made a
 * slice (COPY_SLICE octets) per turn of the event loop rather than 3.5 MB at once for a
 * 100,000-message folder (docs/performance.md "Stop 36, branch postsel").
 */
import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { COPY_SLICE, copyColumns, type FileColumns } from "../src/store/folder/file_list.ts";

function columns(count: number, nameOctets: number): FileColumns {
  const names = new Uint8Array(nameOctets);
  for (let i = 0; i < names.length; i++) names[i] = 0x30 + (i * 7) % 40;
  const nameEnd = new Uint32Array(count), bits = new Uint8Array(count);
  const flagId = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    nameEnd[i] = Math.floor(((i + 1) * nameOctets) / count);
    bits[i] = i % 3;
    flagId[i] = i % 5;
  }
  return { count, names, nameEnd, bits, flagId, sets: ["", "S", "FS"], odd: [[7, "odd:2,S"]] };
}

Deno.test("copyColumns: the same octets, in buffers of their own", async () => {
  const views = columns(1000, 25_000);
  const copy = await copyColumns(views, () => Promise.resolve());
  for (const k of ["names", "nameEnd", "bits", "flagId"] as const) {
    deepEqual(copy[k], views[k], k);
    notEqual(copy[k].buffer, views[k].buffer, k);
  }
  equal(copy.count, 1000);
  deepEqual(copy.sets, views.sets);
  deepEqual(copy.odd, views.odd);
  // Views of part of a larger array (the table's columns have room to grow).
  const big = columns(2000, 50_000);
  const part: FileColumns = {
    ...big,
    count: 1500,
    names: big.names.subarray(0, 40_000),
    nameEnd: big.nameEnd.subarray(0, 1500),
    bits: big.bits.subarray(0, 1500),
    flagId: big.flagId.subarray(0, 1500),
  };
  const partCopy = await copyColumns(part, () => Promise.resolve());
  equal(partCopy.names.length, 40_000);
  equal(partCopy.flagId.byteLength, 6000);
  deepEqual(partCopy.nameEnd, big.nameEnd.subarray(0, 1500));
});

Deno.test("copyColumns: at most COPY_SLICE octets between two pauses", async () => {
  // 100,000 messages: names 2.6 MB, ends and flag numbers 400 KB each, bits 100 KB.
  const views = columns(100_000, 2_600_000);
  const total = views.names.byteLength + views.nameEnd.byteLength + views.bits.byteLength +
    views.flagId.byteLength;
  let pauses = 0;
  const copy = await copyColumns(views, () => {
    pauses++;
    return Promise.resolve();
  });
  ok(pauses >= Math.ceil(total / COPY_SLICE), `${pauses} pauses for ${total} octets`);
  equal(pauses, 10 + 2 + 1 + 2); // each array's slices (2.6 MB: 10 of 256 KiB)
  deepEqual(copy.names, views.names);
  deepEqual(copy.flagId, views.flagId);
  // And a timer runs while it copies: the event loop is given back between slices.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  await copyColumns(views, () => new Promise((r) => setTimeout(r, 1)));
  clearInterval(timer);
  ok(ticks > 0);
});
