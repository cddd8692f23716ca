//! Privacy scan: on any text, no panic; findings are sorted, non-overlapping, non-empty spans
//! inside the text, counted in characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_core::privacy::scan;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let characters = text.chars().count();
    let findings = scan(&text).expect("patterns compile");
    let mut end = 0;
    for finding in &findings {
        assert!(finding.start < finding.end && finding.end <= characters, "{finding:?}");
        assert!(finding.start >= end, "overlap at {finding:?}");
        end = finding.end;
    }
});
