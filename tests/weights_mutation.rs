//! The weights parser takes bytes from the network: thousands of truncated and corrupted copies
//! of small real files (torch.save's zip and legacy formats, a training checkpoint, safetensors)
//! must each end in `Ok` or an error — never a panic, a hang, or an allocation larger than the
//! bytes present justify (sizes claimed in headers are checked against them).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use browser_finetune::weights::read_tensors;
use common::read_fixture;

/// The system allocator, recording the largest single request since the last reset.
struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// A small deterministic generator (xorshift), so that a failure names a reproducible case.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One corruption of `original`, described for the failure message.
fn mutate(original: &[u8], cases: &mut Cases) -> (Vec<u8>, String) {
    let mut bytes = original.to_vec();
    let at = cases.below(bytes.len());
    let description = match cases.below(6) {
        0 => {
            let bit = cases.below(8);
            bytes[at] ^= 1 << bit;
            format!("bit {bit} of byte {at} flipped")
        }
        1 => {
            let value = cases.next() as u8;
            bytes[at] = value;
            format!("byte {at} set to {value}")
        }
        2 => {
            // A size or offset field made huge: 4 or 8 little-endian bytes of 0xff or 0x7f.
            let width = if cases.below(2) == 0 { 4 } else { 8 };
            let fill = if cases.below(2) == 0 { 0xff } else { 0x7f };
            let end = (at + width).min(bytes.len());
            bytes[at..end].fill(fill);
            format!("bytes {at}..{end} set to {fill:#x}")
        }
        3 => {
            let len = 1 + cases.below(64).min(bytes.len() - at - 1);
            bytes.drain(at..at + len);
            format!("{len} bytes removed at {at}")
        }
        4 => {
            let len = 1 + cases.below(64);
            let inserted: Vec<u8> = (0..len).map(|_| cases.next() as u8).collect();
            bytes.splice(at..at, inserted);
            format!("{len} random bytes inserted at {at}")
        }
        _ => {
            // A block copied over another place, as a mangled transfer might do.
            let from = cases.below(bytes.len());
            let len = 1 + cases.below(32).min(bytes.len() - from.max(at) - 1);
            let block = bytes[from..from + len].to_vec();
            bytes[at..at + len].copy_from_slice(&block);
            format!("{len} bytes from {from} copied to {at}")
        }
    };
    (bytes, description)
}

/// Parses `bytes`: whether it was read, or why the case fails the test (a panic, a slow parse,
/// an outsized allocation).
fn parse_checked(bytes: &[u8]) -> Result<bool, String> {
    // Twice the input (f16 widened to f32) plus a fixed allowance for the parser's own tables.
    let allowed = 2 * bytes.len() + (64 << 10);
    LARGEST.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| read_tensors(bytes)));
    let (elapsed, largest) = (started.elapsed(), LARGEST.load(Ordering::Relaxed));
    if largest > allowed {
        return Err(format!("allocated {largest} bytes for a {}-byte input", bytes.len()));
    }
    // A generous bound that only a loop without progress can reach.
    if elapsed > Duration::from_secs(2) {
        return Err(format!("took {elapsed:?}"));
    }
    match result {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(err)) if err.to_string().is_empty() => Err("an empty error message".into()),
        Ok(Err(_)) => Ok(false),
        Err(panic) => Err(format!(
            "panicked: {}",
            panic.downcast_ref::<String>().map(String::as_str).or(panic.downcast_ref::<&str>().copied()).unwrap_or("?")
        )),
    }
}

/// Every case of one file: `(parsed, refused)`, or the first failing case.
fn corrupt_copies_of(file: &str, original: &[u8], cases: &mut Cases) -> Result<[usize; 2], String> {
    let mut outcomes = [0usize; 2];
    if !parse_checked(original)? {
        return Err("the file as written was refused".into());
    }
    for len in 0..original.len() {
        let parsed = parse_checked(&original[..len]).map_err(|why| format!("cut to {len} bytes: {why}"))?;
        if parsed {
            return Err(format!("cut to {len} bytes, it was read as complete"));
        }
        outcomes[1] += 1;
    }
    for _ in 0..3000 {
        let (bytes, case) = mutate(original, cases);
        let parsed = parse_checked(&bytes).map_err(|why| format!("{file}, {case}: {why}"))?;
        outcomes[usize::from(!parsed)] += 1;
    }
    Ok(outcomes)
}

#[test]
fn truncated_and_corrupted_weights_files_are_refused_without_a_panic() {
    // Caught panics are reported below with their case; the default hook would print each.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
    let results: Vec<(&str, Result<[usize; 2], String>)> =
        ["zip.pth", "legacy.pth", "checkpoint.pth", "small.safetensors"]
            .into_iter()
            .map(|file| (file, corrupt_copies_of(file, &read_fixture(&format!("small_weights/{file}")), &mut cases)))
            .collect();
    std::panic::set_hook(default_hook);
    for (file, result) in results {
        match result {
            Ok([parsed, refused]) => println!("{file}: {parsed} corrupt copies parsed, {refused} refused"),
            Err(why) => panic!("{file}: {why}"),
        }
    }
}
