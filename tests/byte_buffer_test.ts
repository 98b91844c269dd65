/** src/message/byte_buffer.ts: content collected in one growing buffer. */
import { ByteBuffer } from "../src/message/byte_buffer.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

function pieces(sizes: number[]): Uint8Array[] {
  let n = 0;
  return sizes.map((size) => Uint8Array.from({ length: size }, () => n++ % 251));
}

Deno.test("ByteBuffer: without initial memory the first append takes it, later ones grow it", () => {
  for (const sizes of [[4400], [4096, 5], [0, 3, 70_000, 1], [1, 1, 1, 5000, 200_000]]) {
    const buf = new ByteBuffer(0, 256 * 1024);
    assertEquals(buf.length, 0);
    assertEquals(buf.bytes().length, 0);
    const all = pieces(sizes);
    for (const p of all) buf.append(p);
    const expected = new Uint8Array(all.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of all) expected.set(p, (off += p.length) - p.length);
    assertEquals([...buf.bytes()], [...expected], sizes.join(","));
    buf.clear();
    assertEquals(buf.length, 0);
    buf.append(all[all.length - 1]);
    assertEquals([...buf.bytes()], [...all[all.length - 1]]);
  }
  // A buffer made with memory keeps using it until that is full.
  const shared = new Uint8Array(8);
  const inPlace = new ByteBuffer(shared, 8);
  inPlace.append(new Uint8Array([1, 2, 3]));
  assert(inPlace.isIn(shared));
  inPlace.append(new Uint8Array(6));
  assert(!inPlace.isIn(shared));
});
