//! Exact byte-pair encoding for OpenAI's `cl100k_base` and `o200k_base` encodings and Mistral's
//! `tekken_240718`.
//!
//! The ids are those of tiktoken 0.14, and for Tekken those of mistral-common's
//! `Tekkenizer.encode(text, bos=False, eos=False)`, which runs tiktoken's algorithm with Tekken's
//! pattern and ranks; its ids are the ranks plus 1,000 (the control tokens come first). Encoding
//! has two steps, as in tiktoken:
//!
//! 1. Pre-tokenization splits the text into pieces, as tiktoken's regex does (module
//!    `pretokenize`, a scanner that cannot backtrack).
//! 2. Each piece is merged by BPE: the adjacent pair with the lowest rank merges first, the
//!    leftmost on ties. Short pieces use a direct scan; long ones a heap with lazy invalidation,
//!    O(n log n), so a megabyte of one repeated character takes milliseconds, not minutes.
//!
//! The vocabularies are the rank files shipped in `python/shoal/data/vocab/`, verified by SHA-256
//! and pre-serialized by `build.rs`, then embedded here. Each encoding is built once, on first use.
//! Inside this module a rank is always the index of a token in its rank file; only `encode`,
//! `decode` and the special tokens deal in ids.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::{mpsc, LazyLock, Mutex, OnceLock};

use rustc_hash::FxHashMap;

use crate::pretokenize::{pieces, Pattern};

/// A token's rank in its encoding's rank file, or a token id (see [`Encoding::encode`]).
pub type Rank = u32;

/// Names of the encodings this module knows, in the order they are listed to users.
pub const ENCODINGS: [&str; 3] = ["cl100k_base", "o200k_base", "tekken_240718"];

/// Tekken's control tokens take ids 0 to 999; the ranks of its rank file follow.
const TEKKEN_CONTROL_TOKENS: usize = 1_000;

/// The named control tokens of Tekken, ids 0 to 19 (mistral-common's
/// `Tekkenizer.DEPRECATED_SPECIAL_TOKENS`); ids 20 to 999 are fillers named `<SPECIAL_id>`.
const TEKKEN_NAMED_CONTROL_TOKENS: [&str; 20] = [
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
];

/// Non-token pieces shorter than this are merged by a scan in fixed arrays, longer ones by a heap
/// (or the linear paths). Measured on the CJK corpus with a cold piece cache, 64 beat 16 and 32.
const LARGE_PIECE: usize = 64;

/// Inputs below this many bytes in total are counted on the calling thread only.
const PARALLEL_MIN_BYTES: usize = 1 << 16;

/// What can go wrong when asking for tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokensError {
    /// The encoding name is not one of [`ENCODINGS`].
    UnknownEncoding(String),
    /// A token id that the encoding does not define was given to decode.
    UnknownToken { encoding: &'static str, token: i64 },
}

impl fmt::Display for TokensError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownEncoding(name) => write!(
                formatter,
                "unknown encoding {name:?}; valid encodings are {}",
                ENCODINGS.join(", ")
            ),
            Self::UnknownToken { encoding, token } => {
                write!(
                    formatter,
                    "token id {token} is not defined in encoding {encoding}"
                )
            }
        }
    }
}

impl std::error::Error for TokensError {}

// ---- Rank tables ----

/// Longest byte string a [`ShortKey`] holds. Almost every piece of ordinary text is this short.
const SHORT_MAX: usize = 15;

/// A byte string of 1 to [`SHORT_MAX`] bytes packed into two words: the bytes little-endian from
/// the first, the length in the top byte of the second. Equal keys are equal strings, so a
/// look-up compares two integers instead of following a pointer to compare bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShortKey {
    low: u64,
    high: u64,
}

impl ShortKey {
    const EMPTY: Self = Self { low: 0, high: 0 };

    /// The key of `bytes`, which holds 1 to [`SHORT_MAX`] bytes. Overlapping loads of the first
    /// and last words avoid a byte loop.
    fn new(bytes: &[u8]) -> Self {
        let length = bytes.len();
        debug_assert!((1..=SHORT_MAX).contains(&length));
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let half = |at: usize| {
            u64::from(u32::from_le_bytes(
                bytes[at..at + 4].try_into().expect("4 bytes"),
            ))
        };
        let (low, high) = if length >= 8 {
            let high = if length == 8 {
                0
            } else {
                word(length - 8) >> (8 * (16 - length))
            };
            (word(0), high)
        } else if length >= 4 {
            (half(0) | (half(length - 4) << (8 * (length - 4))), 0)
        } else {
            let middle = length / 2;
            let low = u64::from(bytes[0])
                | (u64::from(bytes[middle]) << (8 * middle))
                | (u64::from(bytes[length - 1]) << (8 * (length - 1)));
            (low, 0)
        };
        Self {
            low,
            high: high | ((length as u64) << 56),
        }
    }

    /// The key of `text[start..start + length]` (1 to [`SHORT_MAX`] bytes), equal to
    /// [`Self::new`] of those bytes: two word loads and masks when 16 bytes are readable from
    /// `start`, no loop over the bytes.
    fn within(text: &[u8], start: usize, length: usize) -> Self {
        debug_assert!((1..=SHORT_MAX).contains(&length));
        let Some(window) = text.get(start..start + 16) else {
            return Self::new(&text[start..start + length]);
        };
        let word = |at: usize| u64::from_le_bytes(window[at..at + 8].try_into().expect("8 bytes"));
        let (low_mask, high_mask) = KEY_MASKS[length];
        Self {
            low: word(0) & low_mask,
            high: (word(8) & high_mask) | ((length as u64) << 56),
        }
    }

    fn hash(self) -> u64 {
        let mixed = self.low
            ^ self
                .high
                .rotate_left(29)
                .wrapping_mul(0xA076_1D64_78BD_642F);
        mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// A cheaper hash for the small count cache: one multiply, the top bits taken.
    fn quick_hash(self) -> u64 {
        (self.low ^ self.high.rotate_left(5)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

/// For each length up to 15, the masks that keep that many bytes of two little-endian words.
const KEY_MASKS: [(u64, u64); SHORT_MAX + 1] = key_masks();

const fn key_masks() -> [(u64, u64); SHORT_MAX + 1] {
    let mut masks = [(0, 0); SHORT_MAX + 1];
    let mut length = 1;
    while length <= SHORT_MAX {
        masks[length] = if length < 8 {
            ((1 << (8 * length)) - 1, 0)
        } else {
            (u64::MAX, (1 << (8 * (length - 8))) - 1)
        };
        length += 1;
    }
    masks
}

/// Open-addressing map from short token bytes to ranks, at most half full. A slot is one
/// 24-byte entry, so a look-up usually reads one cache line.
struct ShortTable {
    slots: Vec<(ShortKey, Rank)>,
    shift: u32,
}

impl ShortTable {
    fn new(tokens: impl ExactSizeIterator<Item = (ShortKey, Rank)>) -> Self {
        let capacity = (tokens.len() * 2).next_power_of_two().max(16);
        let mut table = Self {
            slots: vec![(ShortKey::EMPTY, Rank::MAX); capacity],
            shift: 64 - capacity.trailing_zeros(),
        };
        for (key, rank) in tokens {
            let mut index = table.home(key);
            while table.slots[index].0 != ShortKey::EMPTY {
                index = (index + 1) & (capacity - 1);
            }
            table.slots[index] = (key, rank);
        }
        table
    }

    fn home(&self, key: ShortKey) -> usize {
        (key.hash() >> self.shift) as usize
    }

    fn get(&self, key: ShortKey) -> Option<Rank> {
        let mask = self.slots.len() - 1;
        let mut index = self.home(key);
        loop {
            let (slot_key, rank) = self.slots[index];
            if slot_key == key {
                return Some(rank);
            }
            if slot_key == ShortKey::EMPTY {
                return None;
            }
            index = (index + 1) & mask;
        }
    }
}

/// The slot of a string of one or two bytes in [`Encoding::two_byte_ranks`]: a pair is both
/// bytes, little-endian; single bytes follow the 2^16 pairs.
fn two_byte_index(bytes: &[u8]) -> usize {
    match bytes {
        [byte] => (1 << 16) + usize::from(*byte),
        [first, second] => usize::from(*first) | (usize::from(*second) << 8),
        _ => unreachable!("one or two bytes"),
    }
}

// ---- Piece cache ----

/// The tokens of a short piece in one word: the count in the low 4 bits, then up to three
/// ranks of 18 bits each when the piece has at most three tokens.
#[derive(Clone, Copy)]
struct PackedTokens(u64);

const PACKED_RANK_BITS: u32 = 18;
const PACKED_RANKS: usize = 3;

impl PackedTokens {
    fn new(count: usize, ranks: impl Iterator<Item = Rank>) -> Self {
        debug_assert!((1..=SHORT_MAX).contains(&count));
        let mut packed = count as u64;
        if count <= PACKED_RANKS {
            for (index, rank) in ranks.enumerate() {
                packed |= u64::from(rank) << (4 + PACKED_RANK_BITS * index as u32);
            }
        }
        Self(packed)
    }

    fn count(self) -> usize {
        (self.0 & 0xF) as usize
    }

    /// The ranks, when they fit in the word.
    fn ranks(self) -> Option<InlineRanks> {
        let count = self.count();
        (count <= PACKED_RANKS).then(|| {
            let mask = (1u64 << PACKED_RANK_BITS) - 1;
            let rank = |index: u32| ((self.0 >> (4 + PACKED_RANK_BITS * index)) & mask) as Rank;
            InlineRanks {
                ranks: [rank(0), rank(1), rank(2)],
                count,
            }
        })
    }
}

/// Up to [`PACKED_RANKS`] ranks on the stack.
struct InlineRanks {
    ranks: [Rank; PACKED_RANKS],
    count: usize,
}

impl std::ops::Deref for InlineRanks {
    type Target = [Rank];

    fn deref(&self) -> &[Rank] {
        &self.ranks[..self.count]
    }
}

/// Most slots of the short-piece cache of one thread and encoding; it is emptied when half full.
const CACHE_SLOTS: usize = 1 << 17;
/// Slots of a new short-piece cache.
const CACHE_FIRST_SLOTS: usize = 1 << 10;
/// Bytes of long pieces (and their tokens) a cache holds before it is emptied.
const CACHE_LONG_BYTES: usize = 4 << 20;
/// Longest piece the cache keeps.
const CACHE_LONG_MAX: usize = 1024;

/// Merged pieces that are not tokens themselves, kept per thread and encoding across calls.
/// A piece that occurs again (a common word that is two tokens, a line of CJK repeated) costs
/// one look-up instead of a merge. Bounded: emptied when full.
#[derive(Default)]
pub(crate) struct PieceCache {
    counts: CountCache,
    short: Vec<(ShortKey, u64)>,
    short_used: usize,
    long: FxHashMap<Box<[u8]>, Box<[Rank]>>,
    long_bytes: usize,
}

impl PieceCache {
    /// The slot where the search for `key` starts in a table of `slots` (a power of two).
    fn home(key: ShortKey, slots: usize) -> usize {
        (key.hash() >> (64 - slots.trailing_zeros())) as usize
    }

    fn short_get(&self, key: ShortKey) -> Option<PackedTokens> {
        let slots = self.short.len();
        if slots == 0 {
            return None;
        }
        let mut index = Self::home(key, slots);
        loop {
            let (slot_key, value) = self.short[index];
            if slot_key == key {
                return Some(PackedTokens(value));
            }
            if slot_key == ShortKey::EMPTY {
                return None;
            }
            index = (index + 1) & (slots - 1);
        }
    }

    /// Stores `tokens` for a key that is not in the cache, and returns them. The table starts
    /// small (a short text should not pay for clearing megabytes) and doubles when half full,
    /// up to [`CACHE_SLOTS`]; there, it is emptied instead.
    fn short_insert(&mut self, key: ShortKey, tokens: PackedTokens) -> PackedTokens {
        if self.short_used >= self.short.len() / 2 {
            let slots = (self.short.len() * 2).clamp(CACHE_FIRST_SLOTS, CACHE_SLOTS);
            let old = std::mem::replace(&mut self.short, vec![(ShortKey::EMPTY, 0); slots]);
            self.short_used = 0;
            if slots > old.len() {
                for (old_key, value) in old.into_iter().filter(|&(key, _)| key != ShortKey::EMPTY) {
                    self.place(old_key, value);
                }
            }
        }
        self.place(key, tokens.0);
        tokens
    }

    fn place(&mut self, key: ShortKey, value: u64) {
        let slots = self.short.len();
        let mut index = Self::home(key, slots);
        while self.short[index].0 != ShortKey::EMPTY {
            index = (index + 1) & (slots - 1);
        }
        self.short[index] = (key, value);
        self.short_used += 1;
    }

    fn long_get(&self, piece: &[u8]) -> Option<&[Rank]> {
        self.long.get(piece).map(|tokens| &tokens[..])
    }

    fn long_insert(&mut self, piece: &[u8], tokens: &[Rank]) {
        if piece.len() > CACHE_LONG_MAX {
            return;
        }
        let bytes = piece.len() + 4 * tokens.len();
        if self.long_bytes + bytes > CACHE_LONG_BYTES {
            self.long.clear();
            self.long_bytes = 0;
        }
        self.long.insert(piece.into(), tokens.into());
        self.long_bytes += bytes;
    }
}

/// Sets of the count cache: two slots of 16 bytes each, 2 MiB in all, the size of a core's L2
/// cache (measured on the corpus: half as many sets missed two to three times as often).
const COUNT_CACHE_SETS: usize = 1 << 16;

/// Token counts of every short piece seen, tokens included, keyed by the whole piece: the
/// vocabulary table is megabytes, so most of its look-ups miss the processor caches, while the
/// pieces of a text repeat (words, indentation, punctuation) and fit here. A piece may sit in
/// either slot of the set its hash picks (both in one cache line), so two pieces that share a
/// set do not evict each other. The first slot holds the piece last used: a hit is almost always
/// there, so the branch that tests it is predicted. The count (at most [`SHORT_MAX`]) sits in
/// the top four bits of the key's second word, above the length.
#[derive(Default)]
struct CountCache {
    sets: Vec<CountSet>,
}

#[derive(Clone, Copy, Default)]
#[repr(align(32))]
struct CountSet([(u64, u64); 2]);

const COUNT_SHIFT: u32 = 60;

impl CountCache {
    #[inline(always)]
    fn set(&mut self, key: ShortKey) -> &mut CountSet {
        if self.sets.is_empty() {
            self.sets = vec![CountSet::default(); COUNT_CACHE_SETS];
        }
        let index = (key.quick_hash() >> (64 - COUNT_CACHE_SETS.trailing_zeros())) as usize;
        &mut self.sets[index]
    }

    /// The count of the piece whose key is `key`, when cached.
    #[inline(always)]
    fn get(&mut self, key: ShortKey) -> Option<usize> {
        let holds = |(low, high): (u64, u64)| {
            (low == key.low && high & ((1 << COUNT_SHIFT) - 1) == key.high)
                .then_some((high >> COUNT_SHIFT) as usize)
        };
        let set = self.set(key);
        if let Some(count) = holds(set.0[0]) {
            return Some(count);
        }
        let count = holds(set.0[1])?;
        set.0.swap(0, 1);
        Some(count)
    }

    /// Caches a piece that [`Self::get`] did not find; the slot used longest ago gives way.
    fn insert(&mut self, key: ShortKey, count: usize) {
        let set = self.set(key);
        set.0[1] = set.0[0];
        set.0[0] = (key.low, key.high | ((count as u64) << COUNT_SHIFT));
    }
}

thread_local! {
    static PIECE_CACHES: RefCell<[PieceCache; ENCODINGS.len()]> = RefCell::default();
}

/// Runs `work` with this thread's piece cache for the encoding at `index` of [`ENCODINGS`].
fn with_piece_cache<T>(index: usize, work: impl FnOnce(&mut PieceCache) -> T) -> T {
    PIECE_CACHES.with_borrow_mut(|caches| work(&mut caches[index]))
}

// ---- Encodings ----

/// One BPE encoding: its mergeable ranks, its special tokens and its pre-tokenization pattern.
pub struct Encoding {
    name: &'static str,
    /// Position in [`ENCODINGS`], which is also the encoding's slot in the piece caches.
    index: usize,
    pattern: Pattern,
    short_ranks: ShortTable,
    /// Ranks of the strings of one and two bytes, indexed by the bytes (`Rank::MAX`: none):
    /// 256 KiB that stay in the processor caches, where the first look-ups of every merge go.
    two_byte_ranks: Vec<Rank>,
    long_ranks: FxHashMap<&'static [u8], Rank>,
    /// Built on the first long piece that needs it.
    backtracker: OnceLock<Backtracker>,
    token_bytes: &'static [u8],
    token_offsets: Vec<u32>,
    /// Added to a rank to make its id: 0 but for Tekken, whose control tokens come first.
    id_offset: Rank,
    special_tokens: SpecialTokens,
}

/// The special tokens of an encoding (Tekken's control tokens), by text and by id.
struct SpecialTokens {
    /// (text, id), in id order.
    by_id: Vec<(String, Rank)>,
    by_text: FxHashMap<Box<[u8]>, Rank>,
    /// The lengths of the texts, longest first, so that the longest text found at an offset wins.
    lengths: Vec<usize>,
    /// The bytes the texts start with, each once.
    first_bytes: Vec<u8>,
}

impl SpecialTokens {
    fn new(mut by_id: Vec<(String, Rank)>) -> Self {
        by_id.sort_by_key(|&(_, id)| id);
        let by_text = by_id
            .iter()
            .map(|(text, id)| (text.as_bytes().into(), *id))
            .collect();
        let mut lengths: Vec<usize> = by_id.iter().map(|(text, _)| text.len()).collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        let mut first_bytes: Vec<u8> = by_id.iter().map(|(text, _)| text.as_bytes()[0]).collect();
        first_bytes.sort_unstable();
        first_bytes.dedup();
        Self {
            by_id,
            by_text,
            lengths,
            first_bytes,
        }
    }

    /// OpenAI's special tokens, given as (text, id).
    fn listed(tokens: &[(&str, Rank)]) -> Self {
        Self::new(
            tokens
                .iter()
                .map(|&(text, id)| (text.to_owned(), id))
                .collect(),
        )
    }

    /// Tekken's 1,000 control tokens.
    fn tekken() -> Self {
        let named = TEKKEN_NAMED_CONTROL_TOKENS
            .iter()
            .map(|&text| text.to_owned());
        let fillers = (TEKKEN_NAMED_CONTROL_TOKENS.len()..TEKKEN_CONTROL_TOKENS)
            .map(|id| format!("<SPECIAL_{id}>"));
        Self::new(named.chain(fillers).zip(0..).collect())
    }

    /// The special tokens in `text`, in order, each the longest at its offset; see
    /// [`SpecialMatches`].
    fn matches<'a>(&'a self, text: &'a str) -> SpecialMatches<'a> {
        SpecialMatches {
            tokens: self,
            text,
            from: 0,
            next: vec![None; self.first_bytes.len()],
        }
    }

    /// The text of the special token `id`.
    fn text(&self, id: Rank) -> Option<&str> {
        let found = self
            .by_id
            .binary_search_by_key(&id, |&(_, special)| special)
            .ok()?;
        Some(self.by_id[found].0.as_str())
    }

    fn largest_id(&self) -> Option<Rank> {
        self.by_id.last().map(|&(_, id)| id)
    }
}

/// The special tokens of a text, left to right, as (offset, length, id); matches do not overlap.
/// Every special text is ASCII, so a match starts and ends on character boundaries.
///
/// Candidates are the occurrences of the texts' first bytes, found by `memchr` (`str::find` of
/// an ASCII character). The next occurrence of each first byte is kept until passed, for the
/// whole text, so the text is read once per first byte however many candidates fail or match:
/// a first byte that does not occur is searched for once, not once per match.
struct SpecialMatches<'a> {
    tokens: &'a SpecialTokens,
    text: &'a str,
    /// Where the search goes on.
    from: usize,
    /// Per first byte: its next occurrence at or after some earlier `from`, `usize::MAX` when
    /// there is none; `None` before the first search.
    next: Vec<Option<usize>>,
}

impl SpecialMatches<'_> {
    /// The nearest occurrence, at or after `from`, of any first byte.
    fn next_candidate(&mut self) -> Option<usize> {
        let mut offset = usize::MAX;
        for (slot, &byte) in self.next.iter_mut().zip(&self.tokens.first_bytes) {
            if slot.map_or(true, |at| at < self.from) {
                let found = self.text[self.from..].find(char::from(byte));
                *slot = Some(found.map_or(usize::MAX, |at| self.from + at));
            }
            offset = offset.min(slot.unwrap_or(usize::MAX));
        }
        (offset != usize::MAX).then_some(offset)
    }
}

impl Iterator for SpecialMatches<'_> {
    type Item = (usize, usize, Rank);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        loop {
            let offset = self.next_candidate()?;
            for &length in &self.tokens.lengths {
                let candidate = bytes.get(offset..offset + length);
                if let Some(&id) = candidate.and_then(|text| self.tokens.by_text.get(text)) {
                    self.from = offset + length;
                    return Some((offset, length, id));
                }
            }
            self.from = offset + 1;
        }
    }
}

static CL100K_BASE: LazyLock<Encoding> = LazyLock::new(|| {
    Encoding::from_blobs(
        "cl100k_base",
        0,
        Pattern::Cl100k,
        include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.bytes")),
        include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.offsets")),
        0,
        SpecialTokens::listed(&[
            ("<|endoftext|>", 100_257),
            ("<|fim_prefix|>", 100_258),
            ("<|fim_middle|>", 100_259),
            ("<|fim_suffix|>", 100_260),
            ("<|endofprompt|>", 100_276),
        ]),
    )
});

static O200K_BASE: LazyLock<Encoding> = LazyLock::new(|| {
    Encoding::from_blobs(
        "o200k_base",
        1,
        Pattern::O200k,
        include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bytes")),
        include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.offsets")),
        0,
        SpecialTokens::listed(&[("<|endoftext|>", 199_999), ("<|endofprompt|>", 200_018)]),
    )
});

static TEKKEN_240718: LazyLock<Encoding> = LazyLock::new(|| {
    Encoding::from_blobs(
        "tekken_240718",
        2,
        Pattern::Tekken,
        include_bytes!(concat!(env!("OUT_DIR"), "/tekken_240718.bytes")),
        include_bytes!(concat!(env!("OUT_DIR"), "/tekken_240718.offsets")),
        TEKKEN_CONTROL_TOKENS as Rank,
        SpecialTokens::tekken(),
    )
});

/// The encoding called `name`, built on first use.
pub fn encoding(name: &str) -> Result<&'static Encoding, TokensError> {
    match name {
        "cl100k_base" => Ok(&CL100K_BASE),
        "o200k_base" => Ok(&O200K_BASE),
        "tekken_240718" => Ok(&TEKKEN_240718),
        _ => Err(TokensError::UnknownEncoding(name.to_owned())),
    }
}

impl Encoding {
    fn from_blobs(
        name: &'static str,
        index: usize,
        pattern: Pattern,
        token_bytes: &'static [u8],
        offsets: &'static [u8],
        id_offset: Rank,
        special_tokens: SpecialTokens,
    ) -> Self {
        let token_offsets: Vec<u32> = offsets
            .chunks_exact(4)
            .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .collect();

        let tokens = || {
            token_offsets.windows(2).enumerate().map(|(rank, bounds)| {
                (
                    &token_bytes[bounds[0] as usize..bounds[1] as usize],
                    rank as Rank,
                )
            })
        };
        let short: Vec<(ShortKey, Rank)> = tokens()
            .filter(|(token, _)| token.len() <= SHORT_MAX)
            .map(|(token, rank)| (ShortKey::new(token), rank))
            .collect();
        let short_ranks = ShortTable::new(short.into_iter());
        let mut two_byte_ranks = vec![Rank::MAX; (1 << 16) + 256];
        for (token, rank) in tokens().filter(|(token, _)| token.len() <= 2) {
            two_byte_ranks[two_byte_index(token)] = rank;
        }
        let long_ranks = tokens()
            .filter(|(token, _)| token.len() > SHORT_MAX)
            .collect();

        Self {
            name,
            index,
            pattern,
            short_ranks,
            two_byte_ranks,
            long_ranks,
            backtracker: OnceLock::new(),
            token_bytes,
            token_offsets,
            id_offset,
            special_tokens,
        }
    }

    /// The encoding's name, e.g. `o200k_base`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Number of ids the encoding can produce: mergeable ranks plus special tokens, counting the
    /// unused ids between them (tiktoken's `n_vocab`).
    pub fn vocabulary_size(&self) -> usize {
        let mergeable = self.token_offsets.len() - 1 + self.id_offset as usize;
        let largest_special = self.special_tokens.largest_id();
        largest_special.map_or(mergeable, |id| mergeable.max(id as usize + 1))
    }

    /// Token ids of `text`: each token's rank plus the encoding's id offset. With
    /// `allow_special`, special-token text such as `<|endoftext|>` or Tekken's `[INST]` becomes
    /// its special id; otherwise it is encoded as ordinary text.
    pub fn encode(&self, text: &str, allow_special: bool) -> Vec<Rank> {
        let mut tokens = Vec::with_capacity(text.len() / 3 + 1);
        with_piece_cache(self.index, |cache| {
            self.for_each_segment(text, allow_special, |segment| match segment {
                Segment::Ordinary(ordinary) => {
                    let first = tokens.len();
                    for (start, end) in pieces(ordinary, self.pattern) {
                        self.encode_piece(&ordinary.as_bytes()[start..end], cache, &mut tokens);
                    }
                    if self.id_offset != 0 {
                        tokens[first..]
                            .iter_mut()
                            .for_each(|rank| *rank += self.id_offset);
                    }
                }
                Segment::Special(rank) => tokens.push(rank),
            });
        });
        tokens
    }

    /// Number of tokens `encode` would return, without building the list.
    pub fn count(&self, text: &str, allow_special: bool) -> usize {
        let mut count = 0;
        with_piece_cache(self.index, |cache| {
            self.for_each_segment(text, allow_special, |segment| match segment {
                Segment::Ordinary(ordinary) => count += self.count_ordinary(ordinary, cache),
                Segment::Special(_) => count += 1,
            });
        });
        count
    }

    /// `count` of each text, spread over the available cores when the input is large enough to
    /// pay for it. The result is in input order.
    ///
    /// The calling thread counts the first share itself; the other shares go, copied, to
    /// long-lived [`Workers`], whose piece caches stay warm from one batch to the next (fresh
    /// threads would start cold and count at about half speed).
    pub fn count_many(&'static self, texts: &[&str], allow_special: bool) -> Vec<usize> {
        let total_bytes: usize = texts.iter().map(|text| text.len()).sum();
        let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
        if threads < 2 || texts.len() < 2 || total_bytes < PARALLEL_MIN_BYTES {
            return texts
                .iter()
                .map(|text| self.count(text, allow_special))
                .collect();
        }

        let batches = balanced_batches(texts, threads);
        let (results, replies) = mpsc::channel();
        let mut sent = vec![false; batches.len()];
        for (index, batch) in batches.iter().enumerate().skip(1) {
            let owned: Vec<String> = batch.iter().map(|&text| text.to_owned()).collect();
            let results = results.clone();
            sent[index] = Workers::run(index - 1, move || {
                let counts = owned
                    .iter()
                    .map(|text| self.count(text, allow_special))
                    .collect();
                // The receiver outlives every job it waits for; a send can only fail after a
                // panic on the calling thread, when nobody needs the counts.
                let _ = results.send((index, counts));
            });
        }
        drop(results);

        let mut counts: Vec<Option<Vec<usize>>> = vec![None; batches.len()];
        counts[0] = Some(
            batches[0]
                .iter()
                .map(|text| self.count(text, allow_special))
                .collect(),
        );
        for _ in sent.iter().filter(|&&sent| sent) {
            match replies.recv() {
                Ok((index, batch_counts)) => counts[index] = Some(batch_counts),
                Err(_) => break, // a worker died; its batch is counted here below
            }
        }
        counts
            .into_iter()
            .zip(&batches)
            .flat_map(|(batch_counts, batch)| {
                batch_counts.unwrap_or_else(|| {
                    batch
                        .iter()
                        .map(|text| self.count(text, allow_special))
                        .collect()
                })
            })
            .collect()
    }

    /// The bytes of the token ids `tokens` concatenated. The result need not be valid UTF-8: a
    /// token may hold part of a character.
    pub fn decode(&self, tokens: &[i64]) -> Result<Vec<u8>, TokensError> {
        let mut bytes = Vec::with_capacity(tokens.len() * 4);
        for &token in tokens {
            bytes.extend_from_slice(self.token(token)?);
        }
        Ok(bytes)
    }

    /// The bytes of the token id `token`.
    fn token(&self, token: i64) -> Result<&[u8], TokensError> {
        let unknown = || TokensError::UnknownToken {
            encoding: self.name,
            token,
        };
        let rank = token
            .checked_sub(i64::from(self.id_offset))
            .and_then(|rank| usize::try_from(rank).ok())
            .filter(|&rank| rank + 1 < self.token_offsets.len());
        if let Some(rank) = rank {
            let (start, end) = (self.token_offsets[rank], self.token_offsets[rank + 1]);
            return Ok(&self.token_bytes[start as usize..end as usize]);
        }
        Rank::try_from(token)
            .ok()
            .and_then(|id| self.special_tokens.text(id))
            .map(str::as_bytes)
            .ok_or_else(unknown)
    }

    /// Calls `visit` with the ordinary stretches of `text` and, when allowed, the special tokens
    /// between them. tiktoken pre-tokenizes each ordinary stretch on its own, so `$` and the
    /// look-ahead see the stretch's end at a special token.
    fn for_each_segment(
        &self,
        text: &str,
        allow_special: bool,
        mut visit: impl FnMut(Segment<'_>),
    ) {
        if !allow_special {
            visit(Segment::Ordinary(text));
            return;
        }

        let mut done = 0;
        for (offset, length, id) in self.special_tokens.matches(text) {
            if offset > done {
                visit(Segment::Ordinary(&text[done..offset]));
            }
            visit(Segment::Special(id));
            done = offset + length;
        }
        if done < text.len() {
            visit(Segment::Ordinary(&text[done..]));
        }
    }

    fn rank(&self, bytes: &[u8]) -> Option<Rank> {
        match bytes.len() {
            0 => None,
            1 | 2 => {
                Some(self.two_byte_ranks[two_byte_index(bytes)]).filter(|&rank| rank != Rank::MAX)
            }
            3..=SHORT_MAX => self.short_ranks.get(ShortKey::new(bytes)),
            _ => self.long_ranks.get(bytes).copied(),
        }
    }

    fn encode_piece(&self, piece: &[u8], cache: &mut PieceCache, tokens: &mut Vec<Rank>) {
        if piece.len() <= SHORT_MAX {
            let key = ShortKey::new(piece);
            if let Some(rank) = self.short_ranks.get(key) {
                tokens.push(rank);
                return;
            }
            let packed = match cache.short_get(key) {
                Some(packed) => packed,
                None => cache.short_insert(key, self.merge_short_packed(piece)),
            };
            if let Some(ranks) = packed.ranks() {
                tokens.extend_from_slice(&ranks);
            } else {
                let (starts, parts) = self.merge_short(piece);
                for bounds in starts[..=parts].windows(2) {
                    tokens.push(self.part_rank(&piece[bounds[0] as usize..bounds[1] as usize]));
                }
            }
            return;
        }
        if let Some(&rank) = self.long_ranks.get(piece) {
            tokens.push(rank);
        } else if let Some(cached) = cache.long_get(piece) {
            tokens.extend_from_slice(cached);
        } else {
            let start = tokens.len();
            self.long_piece_tokens(piece, tokens);
            cache.long_insert(piece, &tokens[start..]);
        }
    }

    /// Tokens of a stretch of ordinary text: short pieces through the count cache.
    fn count_ordinary(&self, text: &str, cache: &mut PieceCache) -> usize {
        let bytes = text.as_bytes();
        let mut count = 0;
        for (start, end) in pieces(text, self.pattern) {
            let length = end - start;
            if length > SHORT_MAX {
                count += self.count_long_piece(&bytes[start..end], cache);
                continue;
            }
            let key = ShortKey::within(bytes, start, length);
            if let Some(cached) = cache.counts.get(key) {
                count += cached;
                continue;
            }
            let pieces = self.count_short_piece(&bytes[start..end], key, cache);
            cache.counts.insert(key, pieces);
            count += pieces;
        }
        count
    }

    /// Tokens of a piece of at most [`SHORT_MAX`] bytes whose key is `key`.
    fn count_short_piece(&self, piece: &[u8], key: ShortKey, cache: &mut PieceCache) -> usize {
        if self.short_ranks.get(key).is_some() {
            return 1;
        }
        match cache.short_get(key) {
            Some(packed) => packed.count(),
            None => cache
                .short_insert(key, self.merge_short_packed(piece))
                .count(),
        }
    }

    /// Tokens of a piece longer than [`SHORT_MAX`] bytes.
    fn count_long_piece(&self, piece: &[u8], cache: &mut PieceCache) -> usize {
        if self.long_ranks.contains_key(piece) {
            return 1;
        }
        if let Some(cached) = cache.long_get(piece) {
            return cached.len();
        }
        if let Some(periodic) = self.periodic_run(piece) {
            return periodic.count();
        }
        let mut tokens = Vec::new();
        self.merge_long(piece, &mut tokens);
        cache.long_insert(piece, &tokens);
        tokens.len()
    }

    /// [`Self::merge_short`] as a cache value.
    fn merge_short_packed(&self, piece: &[u8]) -> PackedTokens {
        let (starts, parts) = self.merge_short(piece);
        let ranks = starts[..=parts]
            .windows(2)
            .map(|bounds| self.part_rank(&piece[bounds[0] as usize..bounds[1] as usize]));
        PackedTokens::new(parts, ranks)
    }

    /// The rank of a part left by a merge: a single byte or a merged token, always in the table.
    fn part_rank(&self, part: &[u8]) -> Rank {
        self.rank(part).expect("a merged part is a token")
    }

    fn heap_tokens(&self, piece: &[u8], tokens: &mut Vec<Rank>) {
        let boundaries = self.merge_by_heap(piece);
        for bounds in boundaries.windows(2) {
            tokens.push(self.part_rank(&piece[bounds[0]..bounds[1]]));
        }
    }

    /// Byte-pair merge of a piece shorter than [`LARGE_PIECE`], in fixed arrays: after each
    /// merge, rescan for the lowest-rank pair (leftmost on ties), as tiktoken does. Returns the
    /// part boundaries (`starts[0] = 0`, `starts[parts] = piece.len()`) and the number of parts.
    fn merge_short(&self, piece: &[u8]) -> ([u8; LARGE_PIECE + 1], usize) {
        let length = piece.len();
        let mut starts = [0u8; LARGE_PIECE + 1];
        for (index, start) in starts.iter_mut().enumerate().take(length + 1) {
            *start = index as u8;
        }
        let pair_rank = |starts: &[u8], index: usize| {
            self.rank(&piece[usize::from(starts[index])..usize::from(starts[index + 2])])
                .unwrap_or(Rank::MAX)
        };
        // pair_ranks[i]: rank of parts i and i + 1 merged.
        let mut pair_ranks = [Rank::MAX; LARGE_PIECE];
        let mut parts = length;
        for (index, pair) in pair_ranks
            .iter_mut()
            .enumerate()
            .take(parts.saturating_sub(1))
        {
            *pair = pair_rank(&starts, index);
        }

        loop {
            let (mut lowest, mut at) = (Rank::MAX, 0);
            for (index, &rank) in pair_ranks[..parts.saturating_sub(1)].iter().enumerate() {
                if rank < lowest {
                    (lowest, at) = (rank, index);
                }
            }
            if lowest == Rank::MAX {
                return (starts, parts);
            }

            starts.copy_within(at + 2..=parts, at + 1);
            pair_ranks.copy_within(at + 2..parts.max(at + 2), at + 1);
            parts -= 1;
            pair_ranks[at] = if at + 1 < parts {
                pair_rank(&starts, at)
            } else {
                Rank::MAX
            };
            if at > 0 {
                pair_ranks[at - 1] = pair_rank(&starts, at - 1);
            }
        }
    }

    /// O(n log n) merge for long pieces: a min-heap of (rank, start) over a linked list of
    /// parts. Entries made stale by a neighbouring merge are skipped when popped; a pair's rank
    /// changes whenever its bytes change, because a longer byte string is a different token.
    fn merge_by_heap(&self, piece: &[u8]) -> Vec<usize> {
        let length = piece.len();
        let mut next: Vec<u32> = (1..=length as u32).collect();
        let mut previous: Vec<u32> = (0..length as u32)
            .map(|start| start.wrapping_sub(1))
            .collect();
        let mut pair_ranks = vec![Rank::MAX; length];
        let mut heap = BinaryHeap::with_capacity(length);

        let rank_of = |start: u32, end: u32| {
            self.rank(&piece[start as usize..end as usize])
                .unwrap_or(Rank::MAX)
        };
        for start in 0..length.saturating_sub(1) as u32 {
            let rank = rank_of(start, start + 2);
            pair_ranks[start as usize] = rank;
            if rank != Rank::MAX {
                heap.push(Reverse((rank, start)));
            }
        }

        let end = length as u32;
        while let Some(Reverse((rank, start))) = heap.pop() {
            if pair_ranks[start as usize] != rank {
                continue;
            }
            let absorbed = next[start as usize];
            let after = next[absorbed as usize];
            next[start as usize] = after;
            pair_ranks[absorbed as usize] = Rank::MAX;
            if after < end {
                previous[after as usize] = start;
            }

            let merged = if after < end {
                rank_of(start, next[after as usize])
            } else {
                Rank::MAX
            };
            pair_ranks[start as usize] = merged;
            if merged != Rank::MAX {
                heap.push(Reverse((merged, start)));
            }
            let before = previous[start as usize];
            if before != u32::MAX {
                let merged = rank_of(before, after);
                pair_ranks[before as usize] = merged;
                if merged != Rank::MAX {
                    heap.push(Reverse((merged, before)));
                }
            }
        }

        let mut boundaries = vec![0];
        let mut start = 0;
        while (start as usize) < length {
            start = next[start as usize];
            boundaries.push(start as usize);
        }
        boundaries
    }

    fn heap_encode(&self, piece: &[u8]) -> Vec<Rank> {
        let mut tokens = Vec::with_capacity(piece.len() / 2);
        self.heap_tokens(piece, &mut tokens);
        tokens
    }

    /// The tokens of a long piece that is one repeated character with short edges, without
    /// merging all of it.
    ///
    /// BPE of a long run of one character is periodic inside: merges of equal rank go left to
    /// right, so the middle of the run settles into a block of tokens that repeats, and the
    /// edges only disturb the tokens near them. So the piece with the run shortened to `base`
    /// characters (`base` congruent to the run length modulo the period) is merged, and the
    /// block is inserted as many times as the characters left out. The period is read from a
    /// merged probe, and the insertion is checked by merging the piece with one more period
    /// than `base`: the two results must differ by exactly one block at the insertion point.
    /// When anything does not fit, `None` sends the piece to the heap merge. Tests compare
    /// this path with tiktoken's own merge on runs of every kind of character.
    fn periodic_run(&self, piece: &[u8]) -> Option<PeriodicRun> {
        if piece.len() < PERIODIC_MIN_BYTES {
            return None;
        }
        let run = CharacterRun::dominant(piece)?;
        let unit = run.unit;
        let probe_units = PERIODIC_PROBE_BYTES.div_ceil(unit.len());
        if run.units < 4 * probe_units {
            return None;
        }

        let with_run = |units: usize| {
            let mut text = Vec::with_capacity(run.head.len() + units * unit.len() + run.tail.len());
            text.extend_from_slice(run.head);
            for _ in 0..units {
                text.extend_from_slice(unit);
            }
            text.extend_from_slice(run.tail);
            self.heap_encode(&text)
        };
        let interior = run.head.len() + PERIODIC_EDGE_BYTES;

        let probe = with_run(probe_units);
        let interior_end = run.head.len() + probe_units * unit.len() - PERIODIC_EDGE_BYTES;
        let period_bytes = self.token_period(&probe, interior, interior_end)?;
        let period_units = lcm(period_bytes, unit.len()) / unit.len();
        if period_units * unit.len() > PERIODIC_MAX_PERIOD_BYTES {
            return None;
        }

        let base = probe_units + (run.units - probe_units) % period_units;
        let shorter = with_run(base);
        let longer = with_run(base + period_units);
        let (insert_at, _) = self.first_boundary_from(&shorter, interior)?;
        let block_length = longer.len().checked_sub(shorter.len())?;
        let block = &longer[insert_at..insert_at + block_length];
        let block_bytes: usize = block.iter().map(|&rank| self.token_length(rank)).sum();
        let consistent = block_bytes == period_units * unit.len()
            && longer[..insert_at] == shorter[..insert_at]
            && longer[insert_at + block_length..] == shorter[insert_at..];
        if !consistent {
            return None;
        }

        Some(PeriodicRun {
            before: shorter[..insert_at].to_vec(),
            block: block.to_vec(),
            repeats: (run.units - base) / period_units,
            after: shorter[insert_at..].to_vec(),
        })
    }

    /// The number of bytes of the shortest block of tokens that repeats through the tokens
    /// lying between byte offsets `from` and `to` of their text.
    fn token_period(&self, tokens: &[Rank], from: usize, to: usize) -> Option<usize> {
        let (first, _) = self.first_boundary_from(tokens, from)?;
        let mut last = first;
        let mut offset = from;
        while last < tokens.len() && offset + self.token_length(tokens[last]) <= to {
            offset += self.token_length(tokens[last]);
            last += 1;
        }
        let interior = &tokens[first..last];
        // A period must repeat at least twice inside the interior to be trusted.
        (1..=interior.len() / 2)
            .find(|&period| {
                interior
                    .iter()
                    .zip(&interior[period..])
                    .all(|(a, b)| a == b)
            })
            .map(|period| {
                interior[..period]
                    .iter()
                    .map(|&rank| self.token_length(rank))
                    .sum()
            })
    }

    /// The index and byte offset of the first token that starts at or after byte `from`.
    fn first_boundary_from(&self, tokens: &[Rank], from: usize) -> Option<(usize, usize)> {
        let mut offset = 0;
        for (index, &rank) in tokens.iter().enumerate() {
            if offset >= from {
                return Some((index, offset));
            }
            offset += self.token_length(rank);
        }
        None
    }

    fn token_length(&self, rank: Rank) -> usize {
        let rank = rank as usize;
        (self.token_offsets[rank + 1] - self.token_offsets[rank]) as usize
    }
}

// ---- Linear-time merge for long pieces ----

/// Non-token pieces at least this long that are not a periodic run are merged by
/// [`Backtracker`] (linear time) instead of the heap. Below it the heap's log factor is bounded
/// (at most 12), so counting stays linear in the text length, and the backtracker, which takes
/// a noticeable fraction of a second to build, is only built for text that needs it.
const BACKTRACK_MIN_BYTES: usize = 4096;

/// Exact BPE in linear time for long pieces, after the "compatible pair" backtracking encoder
/// of github/rust-gems `bpe` (reimplemented here over this module's tables).
///
/// A sequence of tokens is the BPE of its bytes exactly when every adjacent pair is
/// compatible: merging the two tokens' own merge histories in rank order never forms a token
/// across their boundary earlier than it was formed on either side. The encoder takes the
/// longest token at the current position and, when it does not fit the previous token, the
/// next shorter one; when none fits it backtracks one token and marks the position it
/// returned from as a dead end. Built on first use, from the rank table alone.
struct Backtracker {
    /// For each token, the two tokens whose merge formed it last; `(t, t)` for single bytes.
    splits: Vec<(Rank, Rank)>,
    /// The token each pair in `splits` forms.
    pairs: FxHashMap<(Rank, Rank), Rank>,
    /// For each token, the longest token that is a proper prefix of it, or `Rank::MAX`.
    shorter_prefix: Vec<Rank>,
    /// Trie of the tokens: the child of a node by byte, keyed by [`trie_key`].
    children: FxHashMap<u32, u32>,
    /// The token that ends at each trie node, or `Rank::MAX`.
    node_ranks: Vec<Rank>,
}

/// The key of a trie edge: the node number (below 2^24) and the byte.
fn trie_key(node: u32, byte: u8) -> u32 {
    (node << 8) | u32::from(byte)
}

impl Backtracker {
    fn new(encoding: &Encoding) -> Self {
        let token_count = encoding.token_offsets.len() - 1;
        let token = |rank: usize| {
            let (start, end) = (
                encoding.token_offsets[rank],
                encoding.token_offsets[rank + 1],
            );
            &encoding.token_bytes[start as usize..end as usize]
        };

        // Shortest tokens first, so that every proper prefix of a token that is itself a token
        // already has its rank on the trie when the token is inserted.
        let mut by_length: Vec<usize> = (0..token_count).collect();
        by_length.sort_by_key(|&rank| token(rank).len());

        let mut children = FxHashMap::default();
        children.reserve(encoding.token_bytes.len());
        let mut node_ranks = vec![Rank::MAX];
        let mut shorter_prefix = vec![Rank::MAX; token_count];
        for rank in by_length {
            let mut node = 0u32;
            for &byte in token(rank) {
                if node_ranks[node as usize] != Rank::MAX {
                    shorter_prefix[rank] = node_ranks[node as usize];
                }
                node = *children.entry(trie_key(node, byte)).or_insert_with(|| {
                    node_ranks.push(Rank::MAX);
                    (node_ranks.len() - 1) as u32
                });
            }
            node_ranks[node as usize] = rank as Rank;
        }
        assert!(
            node_ranks.len() < 1 << 24,
            "the trie keys hold 24-bit node numbers"
        );
        let mut backtracker = Self {
            splits: Vec::with_capacity(token_count),
            pairs: FxHashMap::default(),
            shorter_prefix,
            children,
            node_ranks,
        };

        // In rank order, so the splits of every shorter part are known when a token is split.
        backtracker.pairs.reserve(token_count);
        for rank in 0..token_count as Rank {
            let bytes = token(rank as usize);
            let split = backtracker
                .split(encoding, rank, bytes)
                .unwrap_or((rank, rank));
            backtracker.splits.push(split);
            if split.0 != rank {
                backtracker.pairs.insert(split, rank);
            }
        }
        backtracker
    }

    /// The last merge that forms the token `rank`: the longest prefix token whose remainder is
    /// also a token, both of lower rank, that are compatible with each other.
    fn split(&self, encoding: &Encoding, rank: Rank, bytes: &[u8]) -> Option<(Rank, Rank)> {
        let mut left = self.shorter_prefix[rank as usize];
        while left != Rank::MAX {
            let right = encoding.rank(&bytes[encoding.token_length(left)..]);
            if let Some(right) = right.filter(|&right| left < rank && right < rank) {
                if self.compatible(left, right) {
                    return Some((left, right));
                }
            }
            left = self.shorter_prefix[left as usize];
        }
        None
    }

    /// The longest token that is a prefix of `text`.
    fn longest_prefix(&self, text: &[u8]) -> Option<Rank> {
        let mut node = 0u32;
        let mut longest = None;
        for &byte in text {
            match self.children.get(&trie_key(node, byte)) {
                Some(&child) => node = child,
                None => break,
            }
            let rank = self.node_ranks[node as usize];
            if rank != Rank::MAX {
                longest = Some(rank);
            }
        }
        longest
    }

    /// Whether BPE of the bytes of `left` followed by `right` gives exactly these two tokens.
    /// Unwinds the merges that formed either token, latest first, and fails when a merge across
    /// the boundary would have come before the unwound one.
    fn compatible(&self, mut left: Rank, mut right: Rank) -> bool {
        let mut limit = Rank::MAX;
        loop {
            if let Some(&combined) = self.pairs.get(&(left, right)) {
                if combined < limit {
                    return false;
                }
            }
            if left > right {
                limit = left;
                left = self.splits[left as usize].1;
                if left == limit {
                    limit = right + 1;
                    right = self.splits[right as usize].0;
                    if right + 1 == limit {
                        return true;
                    }
                }
            } else {
                limit = right + 1;
                right = self.splits[right as usize].0;
                if right + 1 == limit {
                    limit = left;
                    left = self.splits[left as usize].1;
                    if left == limit {
                        return true;
                    }
                }
            }
        }
    }

    /// The tokens of `piece`, or `None` if the search fails (not expected for these
    /// vocabularies; the caller then uses the heap merge).
    fn encode(&self, encoding: &Encoding, piece: &[u8]) -> Option<Vec<Rank>> {
        let mut tokens: Vec<Rank> = Vec::with_capacity(piece.len() / 2);
        let mut dead_ends = vec![false; piece.len() + 1];
        let mut position = 0;
        let mut candidate = self.longest_prefix(piece);
        while let Some(mut token) = candidate {
            let last = tokens.last().copied();
            loop {
                let end = position + encoding.token_length(token);
                if !dead_ends[end] && last.map_or(true, |last| self.compatible(last, token)) {
                    tokens.push(token);
                    position = end;
                    candidate = self.longest_prefix(&piece[end..]);
                    break;
                }
                let shorter = self.shorter_prefix[token as usize];
                if shorter != Rank::MAX {
                    token = shorter;
                    continue;
                }
                dead_ends[position] = true;
                tokens.pop();
                position -= last.map_or(0, |last| encoding.token_length(last));
                candidate = last;
                break;
            }
        }
        (position == piece.len()).then_some(tokens)
    }
}

impl Encoding {
    fn backtracker(&self) -> &Backtracker {
        self.backtracker.get_or_init(|| Backtracker::new(self))
    }

    /// Tokens of a long non-token piece: periodic run, linear backtracking, or (if that ever
    /// fails) the heap merge.
    fn long_piece_tokens(&self, piece: &[u8], tokens: &mut Vec<Rank>) {
        if let Some(periodic) = self.periodic_run(piece) {
            periodic.append_to(tokens);
            return;
        }
        self.merge_long(piece, tokens);
    }

    /// The scan merge below [`LARGE_PIECE`], linear backtracking for long pieces, the heap merge
    /// between them (and as a fallback).
    fn merge_long(&self, piece: &[u8], tokens: &mut Vec<Rank>) {
        if piece.len() < LARGE_PIECE {
            let (starts, parts) = self.merge_short(piece);
            for bounds in starts[..=parts].windows(2) {
                tokens.push(self.part_rank(&piece[bounds[0] as usize..bounds[1] as usize]));
            }
            return;
        }
        if piece.len() >= BACKTRACK_MIN_BYTES {
            if let Some(found) = self.backtracker().encode(self, piece) {
                tokens.extend_from_slice(&found);
                return;
            }
        }
        self.heap_tokens(piece, tokens);
    }
}

/// Pieces at least this long are tried as a repeated character ([`Encoding::periodic_run`]).
const PERIODIC_MIN_BYTES: usize = 8 * 1024;
/// Bytes of run merged to find the period; the inserted block is at least
/// [`PERIODIC_EDGE_BYTES`] from either edge. Runs of up to 128 bytes per period and edge effects
/// of up to about 200 bytes were seen on both encodings, well inside these bounds.
const PERIODIC_PROBE_BYTES: usize = 2048;
const PERIODIC_EDGE_BYTES: usize = 512;
const PERIODIC_MAX_PERIOD_BYTES: usize = 512;
/// Longest head or tail around the run that the periodic path accepts.
const PERIODIC_MAX_EDGE: usize = 256;

/// The tokens of a piece as a head, a block repeated, and a tail.
struct PeriodicRun {
    before: Vec<Rank>,
    block: Vec<Rank>,
    repeats: usize,
    after: Vec<Rank>,
}

impl PeriodicRun {
    fn count(&self) -> usize {
        self.before.len() + self.block.len() * self.repeats + self.after.len()
    }

    fn append_to(&self, tokens: &mut Vec<Rank>) {
        tokens.reserve(self.count());
        tokens.extend_from_slice(&self.before);
        for _ in 0..self.repeats {
            tokens.extend_from_slice(&self.block);
        }
        tokens.extend_from_slice(&self.after);
    }
}

/// A piece seen as `head + unit * units + tail`, the unit being one UTF-8 character.
struct CharacterRun<'a> {
    head: &'a [u8],
    unit: &'a [u8],
    units: usize,
    tail: &'a [u8],
}

impl<'a> CharacterRun<'a> {
    /// The run of the character in the middle of `piece` (valid UTF-8), if the head and tail
    /// around it are at most [`PERIODIC_MAX_EDGE`] bytes.
    fn dominant(piece: &'a [u8]) -> Option<Self> {
        let mut middle = piece.len() / 2;
        while middle > 0 && piece[middle] & 0xC0 == 0x80 {
            middle -= 1;
        }
        let unit_length = match piece[middle] {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let unit = piece.get(middle..middle + unit_length)?;

        let mut start = middle;
        while start >= unit_length && &piece[start - unit_length..start] == unit {
            start -= unit_length;
        }
        let mut end = middle + unit_length;
        while piece.get(end..end + unit_length) == Some(unit) {
            end += unit_length;
        }
        if start > PERIODIC_MAX_EDGE || piece.len() - end > PERIODIC_MAX_EDGE {
            return None;
        }
        Some(Self {
            head: &piece[..start],
            unit,
            units: (end - start) / unit_length,
            tail: &piece[end..],
        })
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

enum Segment<'a> {
    Ordinary(&'a str),
    Special(Rank),
}

/// A job for a [`Workers`] thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Long-lived threads for [`Encoding::count_many`], one per core after the first, started on
/// first use. After a `fork` the child has none of the parent's threads, so the pool remembers
/// the process it was started in and starts afresh in a new one.
struct Workers {
    process: u32,
    queues: Vec<mpsc::Sender<Job>>,
}

static WORKERS: Mutex<Option<Workers>> = Mutex::new(None);

impl Workers {
    /// Queues `job` on worker `index` (modulo the pool size); `false` if it could not be queued,
    /// so the caller does the work itself.
    fn run(index: usize, job: impl FnOnce() + Send + 'static) -> bool {
        let mut pool = WORKERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let process = std::process::id();
        if pool
            .as_ref()
            .map_or(true, |workers| workers.process != process)
        {
            *pool = Some(Self::start(process));
        }
        let queues = &pool.as_ref().expect("started above").queues;
        if queues.is_empty() {
            return false;
        }
        queues[index % queues.len()].send(Box::new(job)).is_ok()
    }

    fn start(process: u32) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
        let queues = (1..threads)
            .filter_map(|number| {
                let (queue, jobs) = mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name(format!("shoal-count-{number}"))
                    .spawn(move || {
                        for job in jobs {
                            // A panicking job must not take the worker down with it; its
                            // caller sees the missing reply and counts the batch itself.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                    })
                    .ok()
                    .map(|_| queue)
            })
            .collect();
        Self { process, queues }
    }
}

/// Splits `texts` into at most `count` contiguous batches of about equal total bytes.
fn balanced_batches<'t>(texts: &'t [&'t str], count: usize) -> Vec<&'t [&'t str]> {
    let total: usize = texts.iter().map(|text| text.len()).sum();
    let target = total / count + 1;
    let mut batches = Vec::with_capacity(count);
    let (mut batch_start, mut batch_bytes) = (0, 0);
    for (index, text) in texts.iter().enumerate() {
        batch_bytes += text.len();
        if batch_bytes >= target && batches.len() + 1 < count {
            batches.push(&texts[batch_start..=index]);
            batch_start = index + 1;
            batch_bytes = 0;
        }
    }
    if batch_start < texts.len() {
        batches.push(&texts[batch_start..]);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretokenize::tests::Lcg;

    #[test]
    fn unknown_encoding_names_the_valid_ones() {
        let error = encoding("p50k_base").err().expect("unknown");
        assert_eq!(
            error.to_string(),
            "unknown encoding \"p50k_base\"; valid encodings are cl100k_base, o200k_base, \
             tekken_240718"
        );
    }

    fn all_encodings() -> [&'static Encoding; 3] {
        ENCODINGS.map(|name| encoding(name).unwrap())
    }

    #[test]
    fn known_ids_match_tiktoken() {
        // Ids printed by tiktoken 0.14 for these strings.
        let o200k = encoding("o200k_base").unwrap();
        assert_eq!(o200k.encode("hello world", false), vec![24912, 2375]);
        let cl100k = encoding("cl100k_base").unwrap();
        assert_eq!(cl100k.encode("hello world", false), vec![15339, 1917]);
    }

    #[test]
    fn tekken_ids_match_mistral_common() {
        // Ids printed by mistral-common 1.12's Tekkenizer.encode(text, bos=False, eos=False):
        // ranks plus 1,000, one digit a token, no contraction piece.
        let tekken = encoding("tekken_240718").unwrap();
        assert_eq!(tekken.encode("hello world", false), vec![29706, 4304]);
        let ids = vec![20110, 1032, 1050, 1048, 1050, 1052, 1044, 2607, 2405, 1033];
        assert_eq!(tekken.encode("Year 2024, don't!", false), ids);
        assert_eq!(tekken.count("Year 2024, don't!", false), ids.len());
        assert_eq!(tekken.vocabulary_size(), 131_072);
    }

    #[test]
    fn tekken_control_tokens_only_when_allowed() {
        let tekken = encoding("tekken_240718").unwrap();
        let text = "[INST] hi [/INST]</s>";
        let allowed = tekken.encode(text, true);
        assert_eq!(
            (allowed[0], &allowed[allowed.len() - 2..]),
            (3, &[4, 2][..])
        );
        assert!(tekken.encode(text, false).iter().all(|&id| id >= 1_000));
        assert_eq!(tekken.encode("<SPECIAL_999>", true), vec![999]);
        assert_eq!(tekken.encode("x<SPECIAL_20><unk>", true)[1..], [20, 0]);
        // Not a control token: no such filler, and brackets that only look alike.
        assert!(tekken
            .encode("<SPECIAL_1000>[INST ]", true)
            .iter()
            .all(|&id| id >= 1_000));
        assert_eq!(tekken.count(text, true), allowed.len());
        // Many candidates that fail, far from the next `[`: the scan stays linear.
        let candidates = format!("{}[INST]", "<".repeat(200_000));
        assert_eq!(tekken.encode(&candidates, true).last(), Some(&3));
        // Many matches while one first byte (`<`) never occurs: that byte is searched for once
        // for the whole text, not once per match.
        let matches = "[INST]".repeat(100_000);
        assert_eq!(tekken.count(&matches, true), 100_000);
        assert!(tekken.encode(&matches, true).iter().all(|&id| id == 3));

        let ids: Vec<i64> = allowed.iter().map(|&id| i64::from(id)).collect();
        assert_eq!(tekken.decode(&ids).unwrap(), text.as_bytes());
        assert_eq!(
            tekken.decode(&[5, 999]).unwrap(),
            b"[AVAILABLE_TOOLS]<SPECIAL_999>"
        );
        for unknown in [-1, 131_072, i64::MAX] {
            assert!(tekken.decode(&[unknown]).is_err(), "{unknown}");
        }
    }

    #[test]
    fn special_tokens_only_when_allowed() {
        let o200k = encoding("o200k_base").unwrap();
        let text = "a<|endoftext|>b";
        assert_eq!(o200k.encode(text, true)[1], 199_999);
        assert!(!o200k.encode(text, false).contains(&199_999));
        assert_eq!(o200k.count(text, true), o200k.encode(text, true).len());
    }

    #[test]
    fn short_merge_equals_heap_merge() {
        let o200k = encoding("o200k_base").unwrap();
        let cl100k = encoding("cl100k_base").unwrap();
        let samples = [
            "aaaaaaaaaaaaaaa",
            "ab-ab-ab-ab-ab",
            "\u{e9}t\u{e9}\u{e9}t",
            "---------------",
            "\u{5982}\u{4f55}\u{5728}\u{4e2d}\u{4f7f}",
            " internationa",
            "xyzzyqwv",
            "zz",
            "q",
            "\u{5982}\u{4f55}\u{5728}\u{4e2d}\u{4f7f}\u{7528}\u{65e2}\u{6709}\u{7684}\u{8ab2}",
            " antidisestablishmentarianismically-supercalifragilistic",
            "----------------=====",
        ];
        for encoding in [o200k, cl100k] {
            for sample in samples {
                let piece = sample.as_bytes();
                let (starts, parts) = encoding.merge_short(piece);
                let short: Vec<usize> =
                    starts[..=parts].iter().map(|&at| usize::from(at)).collect();
                assert_eq!(short, encoding.merge_by_heap(piece), "{sample:?}");
            }
        }
    }

    #[test]
    fn short_keys_are_distinct_for_distinct_strings() {
        let strings: Vec<Vec<u8>> = (1..=SHORT_MAX)
            .flat_map(|length| {
                (0..=255u8).flat_map(move |fill| {
                    [
                        vec![fill; length],
                        (0..length).map(|at| fill ^ (at as u8)).collect(),
                    ]
                })
            })
            .collect();
        let mut keys: Vec<ShortKey> = strings.iter().map(|bytes| ShortKey::new(bytes)).collect();
        keys.sort_by_key(|key| (key.low, key.high));
        keys.dedup();
        let mut unique = strings.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(keys.len(), unique.len());
        assert_eq!(ShortKey::new(b"ab"), ShortKey::new(&b"xab"[1..]));
    }

    #[test]
    fn every_token_is_its_own_merge() {
        for encoding in all_encodings() {
            let backtracker = encoding.backtracker();
            let merged = (0..encoding.token_offsets.len() - 1)
                .filter(|&rank| backtracker.splits[rank] != (rank as Rank, rank as Rank))
                .count();
            let multi_byte = (0..encoding.token_offsets.len() - 1)
                .filter(|&rank| encoding.token_length(rank as Rank) > 1)
                .count();
            assert_eq!(merged, multi_byte, "{}", encoding.name());
        }
    }

    /// The linear backtracking merge against the heap merge on long random pieces.
    #[test]
    fn backtracking_equals_heap_merge() {
        let mut random = Lcg(7);
        for encoding in all_encodings() {
            let backtracker = encoding.backtracker();
            let token_count = encoding.token_offsets.len() - 1;
            for round in 0..120 {
                let length = 256 + random.below(3000);
                let mut piece = Vec::with_capacity(length + 128);
                while piece.len() < length {
                    match round % 4 {
                        0 => {
                            let rank = random.below(token_count);
                            let (start, end) = (
                                encoding.token_offsets[rank] as usize,
                                encoding.token_offsets[rank + 1] as usize,
                            );
                            piece.extend_from_slice(&encoding.token_bytes[start..end]);
                        }
                        1 => {
                            let han = char::from_u32(0x4E00 + random.below(0x5000) as u32).unwrap();
                            piece.extend_from_slice(han.to_string().as_bytes());
                        }
                        2 => piece.push(b"ab "[random.below(3)]),
                        _ => piece.push(random.below(256) as u8),
                    }
                }
                let found = backtracker
                    .encode(encoding, &piece)
                    .expect("backtracking finishes");
                assert_eq!(found, encoding.heap_encode(&piece), "round {round}");
            }
        }
    }

    /// The periodic path against the full heap merge on runs of many kinds of character, at
    /// lengths around its threshold and with short heads and tails.
    #[test]
    fn periodic_runs_equal_the_heap_merge() {
        let units = [
            "a",
            " ",
            "\t",
            "\u{a0}",
            "-",
            "_",
            "=",
            "\n",
            "0",
            "\u{4e00}",
            "\u{1f642}",
            "é",
        ];
        let edges = [
            ("", ""),
            ("x", ""),
            ("", "b"),
            (" ", "!"),
            ("Hello", "world"),
        ];
        for encoding in all_encodings() {
            for unit in units {
                for (index, (head, tail)) in edges.iter().enumerate() {
                    let units = PERIODIC_MIN_BYTES / unit.len() + 97 * index + 13;
                    let piece = format!("{head}{}{tail}", unit.repeat(units));
                    let periodic = encoding.periodic_run(piece.as_bytes());
                    let heap = encoding.heap_encode(piece.as_bytes());
                    if let Some(periodic) = periodic {
                        let mut tokens = Vec::new();
                        periodic.append_to(&mut tokens);
                        assert_eq!(tokens, heap, "{unit:?} x {units} in {head:?}..{tail:?}");
                        assert_eq!(periodic.count(), heap.len());
                    } else {
                        // Only runs whose tokens are one per character may be left to the heap.
                        assert!(unit.len() > 1 || head.len() + tail.len() > 0, "{unit:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn decode_round_trips_and_rejects_unknown_ids() {
        let cl100k = encoding("cl100k_base").unwrap();
        let text = "Grüße, 世界! <|endoftext|>";
        let ids: Vec<i64> = cl100k
            .encode(text, true)
            .into_iter()
            .map(i64::from)
            .collect();
        assert_eq!(cl100k.decode(&ids).unwrap(), text.as_bytes());
        for unused in [100_256, 100_261, 100_275, 100_277, -1] {
            assert!(cl100k.decode(&[unused]).is_err(), "{unused}");
        }
        assert_eq!(cl100k.vocabulary_size(), 100_277);
        assert_eq!(encoding("o200k_base").unwrap().vocabulary_size(), 200_019);
    }

    #[test]
    fn pathological_runs_finish() {
        let o200k = encoding("o200k_base").unwrap();
        for unit in ["a", " ", "\t", "\u{a0}", "-"] {
            let text = unit.repeat(200_000);
            let count = o200k.count(&text, false);
            assert!(count > 0 && count <= text.len());
        }
    }

    #[test]
    fn count_cache_keeps_two_pieces_of_a_set_and_drops_the_oldest() {
        let mut cache = CountCache::default();
        let key = |index: usize| ShortKey::new(format!("piece{index}").as_bytes());
        let home = |cache: &mut CountCache, index: usize| {
            cache.set(key(index)) as *const CountSet as usize
        };
        let first = home(&mut cache, 0);
        let same_set: Vec<usize> = (1..)
            .filter(|&index| home(&mut cache, index) == first)
            .take(2)
            .collect();
        let [second, third] = [same_set[0], same_set[1]];

        cache.insert(key(0), 3);
        cache.insert(key(second), 5);
        assert_eq!(cache.get(key(0)), Some(3));
        assert_eq!(cache.get(key(second)), Some(5));
        // `0` was used longest ago, so the third piece of the set takes its slot.
        cache.insert(key(third), 7);
        assert_eq!(cache.get(key(0)), None);
        assert_eq!(cache.get(key(second)), Some(5));
        assert_eq!(cache.get(key(third)), Some(7));
    }

    #[test]
    fn count_many_keeps_order() {
        let o200k = encoding("o200k_base").unwrap();
        let owned: Vec<String> = (0..64).map(|index| "word ".repeat(index * 100)).collect();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        let expected: Vec<usize> = texts.iter().map(|text| o200k.count(text, false)).collect();
        assert_eq!(o200k.count_many(&texts, false), expected);
    }
}
