// Which build of the engine's WebAssembly this browser runs. build.sh makes two from the same
// source, with the same JS glue: the plain one (simd128) and one whose CPU matrix products use
// relaxed SIMD's fused multiply-add (vendor/gemm-f32/PATCHED.md), about a tenth faster on the CPU
// path. A browser without relaxed SIMD would refuse the whole module, so it gets the plain one.

/** A module whose one function returns `f32x4.relaxed_madd` of three zero vectors. */
const RELAXED_SIMD_PROBE = (() => {
  const zeroVector = [0xfd, 0x0c, ...new Array(16).fill(0)]; // v128.const 0
  const body = [0x00, ...zeroVector, ...zeroVector, ...zeroVector, 0xfd, 0x85, 0x02, 0x0b]; // no locals, relaxed_madd, end
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () → v128
    0x03, 0x02, 0x01, 0x00, // functions: one, of that type
    0x0a, body.length + 2, 0x01, body.length, ...body, // code
  ]);
})();

/**
 * `"relaxed-simd"` where this browser validates relaxed SIMD, else `"simd128"`; `plain` forces the latter.
 * @param {{ plain?: boolean }} [options]
 * @returns {"relaxed-simd" | "simd128"}
 */
export function wasmBuild({ plain = false } = {}) {
  return !plain && WebAssembly.validate(RELAXED_SIMD_PROBE) ? "relaxed-simd" : "simd128";
}

/**
 * The URL of that build's wasm file.
 * @param {"relaxed-simd" | "simd128"} build
 */
export function wasmUrl(build) {
  const file = build === "relaxed-simd" ? "browser_finetune_relaxed_bg.wasm" : "browser_finetune_bg.wasm";
  return new URL(`../pkg/${file}`, import.meta.url);
}
