//! Build step for the token vocabularies.
//!
//! The BPE rank files ship with the Python package under `python/shoal/data/vocab/`. This script
//! checks each file's SHA-256 against the published value (the one tiktoken pins; for Tekken, the
//! one `shoal._pure.tokens` pins, of the file once decompressed) and refuses to build on a
//! mismatch, so the compiled core can only ever count with the genuine vocabularies.
//! It then pre-serializes each file into two blobs in `OUT_DIR` that `rust/tokens.rs` embeds:
//! `<name>.bytes` (the token byte strings concatenated in rank order) and `<name>.offsets`
//! (little-endian u32 start offsets, one per rank plus a final end offset). Decoding base64 here
//! keeps that work out of the first call at run time.
//!
//! The list of top-level domains that `rust/privacy.rs` compiles in is checked the same way (its
//! SHA-256 is the one `shoal.shipped_data` checks the shipped copy against), so that a damaged
//! list cannot make the compiled scanner find fewer e-mail addresses than the genuine one does.

use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

/// (encoding name, rank file name, SHA-256 of the rank file's contents, number of mergeable
/// ranks). A `.gz` file is decompressed first; the SHA-256 is that of the decompressed contents.
const VOCABULARIES: [(&str, &str, &str, usize); 3] = [
    (
        "cl100k_base",
        "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        100_256,
    ),
    (
        "o200k_base",
        "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        199_998,
    ),
    (
        "tekken_240718",
        "tekken_240718.tiktoken.gz",
        "64a081edb3cbb8639a4eea9a7135ab9a0467c50676c672b217ba655f4d50e127",
        130_072,
    ),
];

/// The IANA list of top-level domains `rust/privacy.rs` embeds, and its SHA-256.
const TOP_LEVEL_DOMAINS: (&str, &str) = (
    "tlds-alpha-by-domain.txt",
    "16e0914a32c468d918df00db2220cd77a93d2b7bff90789c77a29e6a6422071f",
);

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let vocab_dir = manifest_dir
        .join("python")
        .join("shoal")
        .join("data")
        .join("vocab");

    for (name, file_name, expected_sha256, rank_count) in VOCABULARIES {
        let path = vocab_dir.join(file_name);
        println!("cargo:rerun-if-changed={}", path.display());

        let contents = read_verified(&path, expected_sha256);
        let tokens = parse_ranks(&path, &contents);
        if tokens.len() != rank_count {
            fail(
                &path,
                &format!("expected {rank_count} ranks, found {}", tokens.len()),
            );
        }

        write_blobs(&out_dir, name, &tokens);
    }

    let (file_name, expected_sha256) = TOP_LEVEL_DOMAINS;
    let path = vocab_dir.parent().expect("data directory").join(file_name);
    println!("cargo:rerun-if-changed={}", path.display());
    read_verified(&path, expected_sha256);
}

fn fail(path: &Path, problem: &str) -> ! {
    panic!(
        "\n\nshoal build: data file {} is not usable: {problem}.\nRestore the genuine file \
         (see python/shoal/data/NOTICE.md) and build again.\n",
        path.display()
    );
}

fn read_verified(path: &Path, expected_sha256: &str) -> Vec<u8> {
    let mut contents = match fs::read(path) {
        Ok(contents) => contents,
        Err(error) => fail(path, &format!("cannot read it ({error})")),
    };
    if path.extension().is_some_and(|extension| extension == "gz") {
        let mut inflated = Vec::new();
        if let Err(error) = GzDecoder::new(&contents[..]).read_to_end(&mut inflated) {
            fail(path, &format!("cannot decompress it ({error})"));
        }
        contents = inflated;
    }

    let digest = Sha256::digest(&contents);
    let actual: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    if actual != expected_sha256 {
        fail(
            path,
            &format!("SHA-256 is {actual}, expected {expected_sha256}"),
        );
    }
    contents
}

/// Parses `base64-token rank` lines, requiring ranks 0, 1, 2, ... in order so that a rank is
/// also the index of its token in the serialized table.
fn parse_ranks(path: &Path, contents: &[u8]) -> Vec<Vec<u8>> {
    let mut tokens = Vec::new();
    for (line_index, line) in contents.split(|&byte| byte == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let line_number = line_index + 1;
        let text = std::str::from_utf8(line)
            .unwrap_or_else(|_| fail(path, &format!("line {line_number} is not UTF-8")));
        let (encoded, rank) = text
            .split_once(' ')
            .unwrap_or_else(|| fail(path, &format!("line {line_number} has no rank")));
        let rank: usize = rank
            .parse()
            .unwrap_or_else(|_| fail(path, &format!("line {line_number} has a bad rank")));
        if rank != tokens.len() {
            fail(
                path,
                &format!(
                    "line {line_number} has rank {rank}, expected {}",
                    tokens.len()
                ),
            );
        }
        let token = decode_base64(encoded.as_bytes())
            .unwrap_or_else(|| fail(path, &format!("line {line_number} is not base64")));
        tokens.push(token);
    }
    tokens
}

fn decode_base64(encoded: &[u8]) -> Option<Vec<u8>> {
    fn sextet(symbol: u8) -> Option<u32> {
        match symbol {
            b'A'..=b'Z' => Some(u32::from(symbol - b'A')),
            b'a'..=b'z' => Some(u32::from(symbol - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(symbol - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }

    if encoded.is_empty() || encoded.len() % 4 != 0 {
        return None;
    }
    let mut decoded = Vec::with_capacity(encoded.len() / 4 * 3);
    for quad in encoded.chunks(4) {
        let padding = quad
            .iter()
            .rev()
            .take_while(|&&symbol| symbol == b'=')
            .count();
        let mut bits = 0u32;
        for &symbol in &quad[..4 - padding] {
            bits = (bits << 6) | sextet(symbol)?;
        }
        bits <<= 6 * padding as u32;
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        decoded.extend_from_slice(&bytes[..3 - padding]);
    }
    Some(decoded)
}

fn write_blobs(out_dir: &Path, name: &str, tokens: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    let mut offsets = Vec::with_capacity((tokens.len() + 1) * 4);
    for token in tokens {
        offsets.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        bytes.extend_from_slice(token);
    }
    offsets.extend_from_slice(&(bytes.len() as u32).to_le_bytes());

    fs::write(out_dir.join(format!("{name}.bytes")), bytes).expect("write token bytes");
    fs::write(out_dir.join(format!("{name}.offsets")), offsets).expect("write token offsets");
}
