/**
 * The small WebAssembly modules the server carries as hex text, with their source in a
 * comment beside them (message/dot_stuffing.ts's SIMD scan, imap/search_line.ts's SEARCH
 * line): instantiated by their module on first use.
 */

/**
 * The exports of the module `hex` encodes (no imports); null where it cannot be made
 * (WebAssembly missing, as under V8's --jitless, or a feature it uses, such as SIMD): the
 * callers then run their JavaScript.
 */
export function wasmExports(hex: string): WebAssembly.Exports | null {
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(Uint8Array.fromHex(hex)), {}).exports;
  } catch {
    return null;
  }
}
