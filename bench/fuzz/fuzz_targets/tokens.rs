//! Token counting: on any text, no panic, count equals the number of ids, the ids decode to the
//! text's bytes (with and without special tokens), count_many agrees with count; on any ids,
//! decode never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_core::tokens::encoding;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for name in ["cl100k_base", "o200k_base"] {
        let encoding = encoding(name).expect("shipped encoding");
        for allow_special in [false, true] {
            let ids = encoding.encode(&text, allow_special);
            assert_eq!(encoding.count(&text, allow_special), ids.len(), "{name}: count");
            let wide: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
            let bytes = encoding.decode(&wide).expect("ids from encode decode");
            assert_eq!(bytes, text.as_bytes(), "{name}: round trip");
        }
        let counts = encoding.count_many(&[&text, "", &text], false);
        assert_eq!(counts, vec![encoding.count(&text, false), 0, encoding.count(&text, false)]);

        // Arbitrary ids: a clean error or bytes, never a panic.
        let ids: Vec<i64> = data
            .chunks(3)
            .map(|chunk| chunk.iter().fold(0i64, |id, &byte| id * 256 + i64::from(byte)) - 1000)
            .collect();
        let _ = encoding.decode(&ids);
    }
});
