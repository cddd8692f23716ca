//! Pre-tokenization for OpenAI's `cl100k_base` and `o200k_base` encodings and Mistral's
//! `tekken_240718`: the split of a text into the pieces that byte-pair encoding then merges one
//! by one.
//!
//! tiktoken does this with a backtracking regex (one per encoding; mistral-common runs Tekken's
//! through tiktoken too). Here a hand-written scanner
//! reproduces the leftmost-first semantics of each pattern alternative by alternative, in one
//! forward pass with bounded look-back, so no input can make it backtrack or overflow a stack
//! (tiktoken panics on about a million spaces). The Unicode classes (`\p{L}`, `\p{N}`, `\p{M}`,
//! `\s`, ...) come from `regex-syntax`, the tables tiktoken's regex engine itself uses.
//!
//! Most text is ASCII, and there the scanner is not used piece by piece: the pieces of 64 bytes
//! at a time come from bit masks, one per class of byte (see "Windows of 64 bytes" below). Tests
//! compare both ways with the scanner's Unicode path, which follows the patterns literally.

use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

// ---- Unicode classes ----

const LETTER: u8 = 1; // \p{L}
const NUMBER: u8 = 2; // \p{N}
const WHITESPACE: u8 = 4; // \s, the Unicode White_Space property
const UPPER_RUN: u8 = 8; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], o200k's leading part of a word
const LOWER_RUN: u8 = 16; // [\p{Ll}\p{Lm}\p{Lo}\p{M}], o200k's trailing part of a word

/// The classes the two patterns use: (name in `unicode_classes.json`, definition, bit).
const CLASS_DEFINITIONS: [(&str, &str, u8); 5] = [
    ("L", r"\p{L}", LETTER),
    ("N", r"\p{N}", NUMBER),
    ("S", r"\s", WHITESPACE),
    ("UPPER", r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPER_RUN),
    ("LOWER", r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWER_RUN),
];

/// Class bits for every code point, indexed by scalar value.
static CLASSES: LazyLock<Vec<u8>> = LazyLock::new(build_classes);

/// [`CLASSES`] of the ASCII code points, as a constant so the common case needs no table look-up
/// behind a lazy initialiser (a test checks it against the Unicode tables).
const ASCII_CLASSES: [u8; 128] = ascii_classes();

const fn ascii_classes() -> [u8; 128] {
    let mut classes = [0u8; 128];
    let mut byte = 0;
    while byte < 128 {
        classes[byte] = match byte as u8 {
            b'A'..=b'Z' => LETTER | UPPER_RUN,
            b'a'..=b'z' => LETTER | LOWER_RUN,
            b'0'..=b'9' => NUMBER,
            b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ' => WHITESPACE,
            _ => 0,
        };
        byte += 1;
    }
    classes
}

// Byte kinds for the ASCII fast path of the scanner: one table look-up per byte decides most
// pieces of ordinary text. `OTHER` (a byte of a multi-byte character) sends the piece to the
// Unicode path; past the end of the text the kind is 0, which ends every run.
const KIND_UPPER: u8 = 1;
const KIND_LOWER: u8 = 2;
const KIND_DIGIT: u8 = 4;
const KIND_SPACE: u8 = 8; // ASCII white space other than \r and \n
const KIND_NEWLINE: u8 = 16; // \r, \n
const KIND_SYMBOL: u8 = 32; // [^\s\p{L}\p{N}] in ASCII
const KIND_OTHER: u8 = 64;
const KIND_LETTER: u8 = KIND_UPPER | KIND_LOWER;

const BYTE_KINDS: [u8; 256] = byte_kinds();

const fn byte_kinds() -> [u8; 256] {
    let mut kinds = [KIND_OTHER; 256];
    let mut byte = 0;
    while byte < 128 {
        let class = ASCII_CLASSES[byte];
        kinds[byte] = if class & UPPER_RUN != 0 {
            KIND_UPPER
        } else if class & LOWER_RUN != 0 {
            KIND_LOWER
        } else if class & NUMBER != 0 {
            KIND_DIGIT
        } else if byte == b'\r' as usize || byte == b'\n' as usize {
            KIND_NEWLINE
        } else if class & WHITESPACE != 0 {
            KIND_SPACE
        } else {
            KIND_SYMBOL
        };
        byte += 1;
    }
    kinds
}

// Eight bytes of text at a time (SWAR): each byte is a lane of a 64-bit word, and a class test
// sets the high bit of the lanes in the class. A run of a class then ends at the first lane
// outside it, found by one trailing-zero count instead of a branch per byte. Plain integer code:
// portable, and no `unsafe`.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Eight consecutive bytes of a text, as the lanes of a little-endian word.
#[derive(Clone, Copy)]
struct Lanes {
    word: u64,
    /// High bits of the lanes inside the text; lanes past its end hold 0.
    inside: u64,
}

impl Lanes {
    #[inline(always)]
    fn at(text: &[u8], at: usize) -> Self {
        if let Some(bytes) = text.get(at..at + 8) {
            let word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
            return Self {
                word,
                inside: HIGH_BITS,
            };
        }
        let rest = text.get(at..).unwrap_or_default();
        let mut bytes = [0u8; 8];
        bytes[..rest.len()].copy_from_slice(rest);
        let inside = HIGH_BITS & !(u64::MAX << (8 * rest.len()));
        Self {
            word: u64::from_le_bytes(bytes),
            inside,
        }
    }

    /// High bits of the ASCII lanes whose byte is in `low..=high`. The high bits are cleared
    /// before adding, so every sum stays below 256 and no carry crosses into the next lane.
    #[inline(always)]
    fn between(self, low: u8, high: u8) -> u64 {
        let ascii = self.word & !HIGH_BITS;
        let at_least_low = ascii + LOW_BITS * u64::from(0x80 - low);
        let above_high = ascii + LOW_BITS * u64::from(0x7F - high);
        at_least_low & !above_high & !self.word & HIGH_BITS
    }

    /// ASCII letters: with bit 5 set, upper and lower case both fall in `a..=z`.
    #[inline(always)]
    fn letters(self) -> u64 {
        Self {
            word: self.word | (LOW_BITS * 0x20),
            ..self
        }
        .between(b'a', b'z')
    }

    /// Lower-case ASCII letters: bit 5 of each lane, shifted up to the lane's high bit.
    #[inline(always)]
    fn lower(self) -> u64 {
        self.letters() & (self.word << 2)
    }

    #[inline(always)]
    fn upper(self) -> u64 {
        self.letters() & !(self.word << 2)
    }

    #[inline(always)]
    fn digits(self) -> u64 {
        self.between(b'0', b'9')
    }

    /// `\r` and `\n`.
    #[inline(always)]
    fn newlines(self) -> u64 {
        self.between(b'\n', b'\n') | self.between(b'\r', b'\r')
    }

    /// ASCII white space: `\t` to `\r`, and the space.
    #[inline(always)]
    fn whitespace(self) -> u64 {
        self.between(b'\t', b'\r') | self.between(b' ', b' ')
    }

    /// `[^\s\p{L}\p{N}]` in ASCII.
    #[inline(always)]
    fn symbols(self) -> u64 {
        self.inside & !(self.word | self.letters() | self.digits() | self.whitespace())
    }

    /// Bytes of multi-byte characters.
    #[inline(always)]
    fn non_ascii(self) -> u64 {
        self.word & self.inside
    }
}

/// The index of the first lane set in `lanes` (8 when none is).
#[inline(always)]
fn first_lane(lanes: u64) -> usize {
    (lanes.trailing_zeros() / 8) as usize
}

/// High bits of the lanes after `lane`.
#[inline(always)]
fn lanes_after(lane: usize) -> u64 {
    HIGH_BITS & (u64::MAX << (8 * lane + 8))
}

// ---- Windows of 64 bytes ----
//
// In ASCII text the pieces of a whole window are found at once: the bytes are classified into
// one 64-bit mask per class (bit i for byte i), and each rule of the pattern becomes a few
// shifts and boolean operations on the masks, giving the set of piece starts. No branch depends
// on the bytes except for the rare contractions, so the processor does not mispredict at every
// piece as the piece-by-piece scanner does.
//
// A window starts at a piece start, and the patterns have no look-behind, so the window can be
// split as if it were a whole text. Near its end a piece may depend on bytes beyond it (a word
// may go on), so only the starts before the last run of the window are kept; the last of them
// is where the next window begins. Whatever the window cannot decide (non-ASCII bytes, runs of
// 64 bytes or more, the end of the text, a `/` after a symbol's newline in o200k) is left to
// the scanner, piece by piece. Windows are only tried where the next 32 bytes are ASCII, so
// text that is mostly not (CJK) pays one check per piece.

const WINDOW: usize = 64;

/// The classes of the bytes of a window, one bit per byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct WindowClasses {
    upper: u64,
    lower: u64,
    digits: u64,
    /// The space character itself, which alone may lead a run of symbols.
    spaces: u64,
    /// White space other than `\r` and `\n`: `\t`, `\x0b`, `\x0c` and the space.
    blanks: u64,
    newlines: u64,
    slashes: u64,
    apostrophes: u64,
    non_ascii: u64,
}

impl WindowClasses {
    /// The classes of `window`. On x86-64 with SSE2 (part of its baseline, so always there),
    /// sixteen bytes per instruction; elsewhere eight bytes at a time in plain integers.
    fn of(window: &[u8; WINDOW]) -> Self {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        return Self::of_sse2(window);
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        return Self::of_lanes(window);
    }

    /// [`Self::of`] eight bytes at a time: each class test of [`Lanes`] sets the high bit of its
    /// lanes, and one multiplication gathers the eight high bits into a byte.
    #[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
    fn of_lanes(window: &[u8; WINDOW]) -> Self {
        let mut classes = Self::default();
        for (index, chunk) in window.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            let lanes = Lanes {
                word,
                inside: HIGH_BITS,
            };
            let shift = 8 * index;
            let gather = |high_bits: u64| ((high_bits >> 7).wrapping_mul(GATHER) >> 56) << shift;
            classes.upper |= gather(lanes.upper());
            classes.lower |= gather(lanes.lower());
            classes.digits |= gather(lanes.digits());
            classes.spaces |= gather(lanes.between(b' ', b' '));
            classes.blanks |= gather(lanes.whitespace() & !lanes.newlines());
            classes.newlines |= gather(lanes.newlines());
            classes.slashes |= gather(lanes.between(b'/', b'/'));
            classes.apostrophes |= gather(lanes.between(b'\'', b'\''));
            classes.non_ascii |= gather(lanes.non_ascii());
        }
        classes
    }

    /// [`Self::of`] with SSE2: a comparison sets all bits of the bytes in a class, and
    /// `movemask` gathers their high bits. The only `unsafe` of the crate: Rust 1.80 requires it
    /// around any intrinsic. It is sound because the `cfg` guarantees the instructions and the
    /// intrinsics used take and return values only (no pointers).
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    fn of_sse2(window: &[u8; WINDOW]) -> Self {
        use std::arch::x86_64::{
            __m128i, _mm_add_epi8, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmplt_epi8,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
        };

        let mut classes = Self::default();
        for (index, chunk) in window.chunks_exact(16).enumerate() {
            let half = |at: usize| i64::from_le_bytes(chunk[at..at + 8].try_into().expect("8"));
            let shift = 16 * index;
            // SAFETY: see the doc comment; SSE2 is enabled for this build.
            unsafe {
                let bytes = _mm_set_epi64x(half(8), half(0));
                let mask = |vector: __m128i| u64::from(_mm_movemask_epi8(vector) as u16) << shift;
                let equal = |byte: u8| _mm_cmpeq_epi8(bytes, _mm_set1_epi8(byte as i8));
                // Adding 128 - `low` moves `low..low + count` to -128..-128 + count as signed
                // bytes, and every other byte (non-ASCII ones too) outside it.
                let within = |low: u8, count: u8| {
                    let moved = _mm_add_epi8(bytes, _mm_set1_epi8(0x80u8.wrapping_sub(low) as i8));
                    _mm_cmplt_epi8(moved, _mm_set1_epi8(0x80u8.wrapping_add(count) as i8))
                };
                let newlines = _mm_or_si128(equal(b'\n'), equal(b'\r'));
                let spaces = equal(b' ');
                classes.upper |= mask(within(b'A', 26));
                classes.lower |= mask(within(b'a', 26));
                classes.digits |= mask(within(b'0', 10));
                classes.spaces |= mask(spaces);
                classes.blanks |= mask(_mm_or_si128(
                    _mm_andnot_si128(newlines, within(b'\t', 5)),
                    spaces,
                ));
                classes.newlines |= mask(newlines);
                classes.slashes |= mask(equal(b'/'));
                classes.apostrophes |= mask(equal(b'\''));
                classes.non_ascii |= mask(bytes);
            }
        }
        classes
    }
}

/// Multiplying lanes that hold 0 or 1 by this puts lane i's bit at bit 56 + i: each lane is
/// shifted by a different amount, so the bits never collide or carry.
const GATHER: u64 = 0x0102_0408_1020_4080;

/// The byte after each byte of `mask` (bit i + 1 for bit i).
fn after(mask: u64) -> u64 {
    mask << 1
}

/// The byte before each byte of `mask`.
fn before(mask: u64) -> u64 {
    mask >> 1
}

/// The bits of `runs` from which a bit of `seeds` can be reached upwards without leaving the
/// run of ones: each run is filled down from its seeds, doubling the distance each step.
fn fill_down(seeds: u64, runs: u64) -> u64 {
    let (mut filled, mut whole) = (seeds & runs, runs);
    for shift in [1, 2, 4, 8, 16, 32] {
        filled |= (filled >> shift) & whole;
        whole &= whole >> shift;
    }
    filled
}

/// Piece starts in `window` (whose byte 0 starts a piece), as bits: only those the window
/// decides, so all lie before its first non-ASCII byte and before its last run.
///
/// The patterns split ASCII alike but for four rules: o200k and Tekken end a word where an
/// upper-case letter follows a lower-case one and let a symbol run take slashes after its
/// newlines (`[\r\n/]*`); o200k lets a word take a contraction, which cl100k makes a piece of
/// its own and Tekken does not know (its apostrophe is a symbol like any other); Tekken makes
/// each digit a piece, the others up to three.
fn window_starts(pattern: Pattern, window: &[u8; WINDOW], classes: &WindowClasses) -> u64 {
    let known_bytes = classes.non_ascii.trailing_zeros();
    let known = if known_bytes == 64 {
        u64::MAX
    } else {
        (1u64 << known_bytes) - 1
    };
    let letters = (classes.upper | classes.lower) & known;
    let digits = classes.digits & known;
    let newlines = classes.newlines & known;
    let blanks = classes.blanks & known;
    let spaces = classes.spaces & known;
    let whitespace = blanks | newlines;
    let symbols = known & !(letters | digits | whitespace);
    let not_whitespace = known & !whitespace;

    // `\p{N}{1,3}`: a start at each run of digits, then every third digit; Tekken's `\p{N}`: a
    // start at every digit.
    let mut starts = digits & !after(digits);
    if pattern == Pattern::Tekken {
        starts = digits;
    } else {
        let mut digit_starts = starts;
        loop {
            digit_starts = (digit_starts << 3) & digits & (digits << 1) & (digits << 2);
            if digit_starts == 0 {
                break;
            }
            starts |= digit_starts;
        }
    }

    // Symbols: a run starts a piece unless a space leads it (` ?[^\s\p{L}\p{N}]+`).
    starts |= symbols & !after(symbols) & !after(spaces);
    // A single symbol that starts a piece and comes right before a letter leads the word
    // (`[^\r\n\p{L}\p{N}]?`), as does the last blank before a letter.
    let lone_symbols = symbols & !after(symbols) & !before(symbols) & !after(spaces);
    let word_leads = lone_symbols | blanks;
    // Words: a run of letters starts a piece unless led; in o200k and Tekken, an upper-case
    // letter right after a lower-case one starts the next word.
    starts |= letters & !after(letters) & !after(word_leads);
    if pattern != Pattern::Cl100k {
        starts |= classes.upper & after(classes.lower);
    }

    // A symbol run takes the newlines right after it (`[\r\n]*`).
    let taken_newline_runs = newlines & !after(newlines) & after(symbols);
    let after_taken = newlines.wrapping_add(taken_newline_runs) & !newlines;
    // White space: a run starts a piece (unless a symbol run took its first newlines; then
    // what follows them does). `\s*[\r\n]+` runs to the last newline of the run; after it,
    // the blanks but the last are one piece (`\s+(?!\S)`) and the last leads what follows.
    starts |= whitespace & !after(whitespace) & !taken_newline_runs;
    starts |= after_taken & blanks;
    let newline_follows = fill_down(before(newlines), whitespace);
    let last_newlines = newlines & !newline_follows;
    starts |= after(last_newlines) & blanks;
    starts |= blanks & before(not_whitespace);

    // The last run of the window may go on past it; so may a piece whose bytes before it
    // decide. Keep the starts below that run.
    let run_starts = (letters & !after(letters))
        | (digits & !after(digits))
        | (symbols & !after(symbols))
        | (whitespace & !after(whitespace));
    if known_bytes == 0 {
        return 1;
    }
    let last_known = known_bytes - 1;
    let mut limit = 63 - (run_starts & (u64::MAX >> (63 - last_known))).leading_zeros();

    // o200k's and Tekken's `[\r\n/]*` may also take a slash after those newlines, and with it
    // part of a symbol run: left to the scanner, from the newlines on.
    let taken_slashes = after_taken & classes.slashes;
    if pattern != Pattern::Cl100k && taken_slashes != 0 {
        let below = (1u64 << taken_slashes.trailing_zeros()) - 1;
        limit = limit.min(63 - (taken_newline_runs & below).leading_zeros());
    }

    // Contractions (`'s`, `'re`, ...): in o200k, right after a word, which takes them; in
    // cl100k, wherever an apostrophe starts a piece, as a piece of their own; Tekken has none.
    let mut contractions = match pattern {
        Pattern::O200k => classes.apostrophes & after(letters) & known,
        Pattern::Cl100k => classes.apostrophes & starts,
        Pattern::Tekken => 0,
    };
    let mut taken_until = 0;
    while contractions != 0 {
        let apostrophe = contractions.trailing_zeros();
        contractions &= contractions - 1;
        if apostrophe + 3 > last_known {
            limit = limit.min(apostrophe);
            break;
        }
        if apostrophe < taken_until {
            continue; // o200k: the letter before is part of a contraction, not a word's end
        }
        let at = apostrophe as usize;
        let length = contraction_length(window[at + 1], window[at + 2]);
        if length > 0 {
            let inside = ((1u64 << (length - 1)) - 1) << (apostrophe + 1);
            let taken = match pattern {
                Pattern::O200k | Pattern::Tekken => inside | (1u64 << apostrophe),
                Pattern::Cl100k => inside,
            };
            starts = (starts & !taken) | (1u64 << (apostrophe + length));
            if pattern == Pattern::O200k {
                taken_until = apostrophe + length + 1;
            }
        }
    }

    let below_limit = if limit == 0 {
        0
    } else {
        u64::MAX >> (64 - limit)
    };
    (starts & below_limit) | 1
}

/// The length of an ASCII contraction (`'s`, `'t`, `'m`, `'d`, `'re`, `'ve`, `'ll`, any case)
/// whose letters are `first` and `second`; 0 for none.
fn contraction_length(first: u8, second: u8) -> u32 {
    let (first, second) = (first.to_ascii_lowercase(), second.to_ascii_lowercase());
    if matches!(first, b's' | b't' | b'm' | b'd') {
        2
    } else if matches!((first, second), (b'r', b'e') | (b'v', b'e') | (b'l', b'l')) {
        3
    } else {
        0
    }
}

fn build_classes() -> Vec<u8> {
    let mut classes = vec![0u8; 0x11_0000];
    for (_, pattern, bit) in CLASS_DEFINITIONS {
        for (start, end) in unicode_ranges(pattern) {
            for code_point in start..=end {
                classes[code_point as usize] |= bit;
            }
        }
    }
    classes
}

/// The code point ranges of a one-class pattern, as `regex-syntax` defines them.
fn unicode_ranges(pattern: &str) -> Vec<(u32, u32)> {
    // The patterns are constants of this module; a parse failure is a bug caught by the tests.
    let hir = regex_syntax::Parser::new()
        .parse(pattern)
        .expect("constant class pattern");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|range| (u32::from(range.start()), u32::from(range.end())))
            .collect(),
        _ => unreachable!("{pattern} is a single Unicode class"),
    }
}

// ---- Pre-tokenization ----

/// Which tiktoken pattern to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
    /// ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
    Cl100k,
    /// `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|
    /// 've|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}
    /// \p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|
    /// \s+(?!\S)|\s+`
    O200k,
    /// `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}
    /// \p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+
    /// [\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`: o200k's without the contractions, one digit a piece.
    Tekken,
}

/// Splits one text into pieces. Every character starts a match of some alternative in both
/// patterns, so pieces are contiguous and cover the text.
struct Scanner<'a> {
    text: &'a [u8],
    classes: &'a [u8],
    pattern: Pattern,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str, pattern: Pattern) -> Self {
        Self {
            text: text.as_bytes(),
            classes: &CLASSES,
            pattern,
        }
    }

    /// The code point at byte `position` (a char boundary) and its length in bytes.
    fn char_at(&self, position: usize) -> Option<(u32, usize)> {
        let lead = *self.text.get(position)?;
        let continuation = |offset: usize| u32::from(self.text[position + offset] & 0x3F);
        Some(if lead < 0x80 {
            (u32::from(lead), 1)
        } else if lead < 0xE0 {
            ((u32::from(lead & 0x1F) << 6) | continuation(1), 2)
        } else if lead < 0xF0 {
            (
                (u32::from(lead & 0x0F) << 12) | (continuation(1) << 6) | continuation(2),
                3,
            )
        } else {
            let high = (u32::from(lead & 0x07) << 18) | (continuation(1) << 12);
            (high | (continuation(2) << 6) | continuation(3), 4)
        })
    }

    /// The class bits of the character at `position` and its length in bytes.
    fn class_at(&self, position: usize) -> Option<(u8, usize)> {
        let lead = *self.text.get(position)?;
        if lead < 0x80 {
            return Some((ASCII_CLASSES[usize::from(lead)], 1));
        }
        let (code_point, length) = self.char_at(position)?;
        Some((self.classes[code_point as usize], length))
    }

    /// The fast-path kind of the byte at `position`; 0 past the end.
    fn kind(&self, position: usize) -> u8 {
        self.text
            .get(position)
            .map_or(0, |&byte| BYTE_KINDS[usize::from(byte)])
    }

    fn has_class(&self, position: usize, bits: u8) -> bool {
        self.class_at(position)
            .is_some_and(|(class, _)| class & bits != 0)
    }

    /// `[^\s\p{L}\p{N}]`: punctuation, symbols, marks, controls.
    fn is_symbol(&self, position: usize) -> bool {
        self.class_at(position)
            .is_some_and(|(class, _)| class & (LETTER | NUMBER | WHITESPACE) == 0)
    }

    /// The end of the piece starting at `start` (which is below the text length).
    #[inline(always)]
    fn piece_end(&self, start: usize) -> usize {
        match self.pattern {
            Pattern::Cl100k => self
                .cl100k_ascii_end(start)
                .unwrap_or_else(|| self.cl100k_piece_end(start)),
            Pattern::O200k => self
                .o200k_ascii_end(start)
                .unwrap_or_else(|| self.o200k_piece_end(start)),
            Pattern::Tekken => self
                .tekken_ascii_end(start)
                .unwrap_or_else(|| self.tekken_piece_end(start)),
        }
    }

    /// cl100k's piece at `start` when every byte that decides it is ASCII (the bytes of the piece
    /// and the one after it); `None` leaves the piece to [`Self::cl100k_piece_end`].
    #[inline(always)]
    fn cl100k_ascii_end(&self, start: usize) -> Option<usize> {
        let first = self.kind(start);
        if self.text[start] == b'\'' {
            if let Some(end) = self.contraction_end(start) {
                return Some(end);
            }
        }
        if first & KIND_LETTER != 0 {
            return self.ascii_run_end(start, 0, |lanes| !lanes.letters());
        }
        if first & KIND_DIGIT != 0 {
            return self.ascii_digits_end(start);
        }
        if first & KIND_NEWLINE != 0 {
            return self.ascii_whitespace_end(start, first, self.kind(start + 1));
        }
        if first & (KIND_SYMBOL | KIND_SPACE) == 0 {
            return None;
        }
        let next = self.kind(start + 1);
        if next & KIND_LETTER != 0 {
            return self.ascii_run_end(start, 1, |lanes| !lanes.letters());
        }
        self.ascii_symbols_end(start, first, next, b"\r\n")
            .or_else(|| self.ascii_whitespace_end(start, first, next))
    }

    /// o200k's piece at `start` when every byte that decides it is ASCII; see
    /// [`Self::cl100k_ascii_end`].
    #[inline(always)]
    fn o200k_ascii_end(&self, start: usize) -> Option<usize> {
        self.cased_ascii_end::<true>(start)
    }

    /// Tekken's piece at `start` when every byte that decides it is ASCII: o200k's without
    /// contractions, and a digit is a piece of its own.
    #[inline(always)]
    fn tekken_ascii_end(&self, start: usize) -> Option<usize> {
        self.cased_ascii_end::<false>(start)
    }

    /// The ASCII piece of o200k (with `CONTRACTIONS`) or Tekken (without): the two patterns
    /// differ only there and in digits per piece. A constant parameter, so each gets its own
    /// copy with no test of the pattern per piece.
    #[inline(always)]
    fn cased_ascii_end<const CONTRACTIONS: bool>(&self, start: usize) -> Option<usize> {
        let first = self.kind(start);
        if first & KIND_LETTER != 0 {
            return self.cased_ascii_word_end::<CONTRACTIONS>(start, 0);
        }
        if first & KIND_DIGIT != 0 {
            return if CONTRACTIONS {
                self.ascii_digits_end(start)
            } else {
                Some(start + 1)
            };
        }
        if first & KIND_NEWLINE != 0 {
            return self.ascii_whitespace_end(start, first, self.kind(start + 1));
        }
        if first & (KIND_SYMBOL | KIND_SPACE) == 0 {
            return None;
        }
        let next = self.kind(start + 1);
        if next & KIND_LETTER != 0 {
            return self.cased_ascii_word_end::<CONTRACTIONS>(start, 1);
        }
        self.ascii_symbols_end(start, first, next, b"\r\n/")
            .or_else(|| self.ascii_whitespace_end(start, first, next))
    }

    /// The white-space piece at `start` when the run of white space and the byte after it are
    /// ASCII, given the kinds of the first two bytes. Only called once the earlier
    /// alternatives have failed or cannot match: a word needs a letter right after `start`
    /// (a newline cannot lead one), a symbol run needs a symbol right after a space. A
    /// non-ASCII byte next to or after the run may be a letter, a symbol or more white space,
    /// so it leaves the piece to the Unicode path.
    #[inline(always)]
    fn ascii_whitespace_end(&self, start: usize, first: u8, next: u8) -> Option<usize> {
        const BLANK: u8 = KIND_SPACE | KIND_NEWLINE;
        if first & BLANK == 0 || next & KIND_OTHER != 0 {
            return None;
        }
        let leads_word = first & KIND_NEWLINE == 0 && next & KIND_LETTER != 0;
        let leads_symbols = self.text[start] == b' ' && next & KIND_SYMBOL != 0;
        if leads_word || leads_symbols {
            return None;
        }

        let mut last_newline_end = None;
        let mut at = start;
        let end = loop {
            let lanes = Lanes::at(self.text, at);
            let stops = !lanes.whitespace() & HIGH_BITS;
            let run = if stops == 0 {
                HIGH_BITS
            } else {
                HIGH_BITS & !(u64::MAX << stops.trailing_zeros())
            };
            let newlines = lanes.newlines() & run;
            if newlines != 0 {
                last_newline_end = Some(at + 8 - (newlines.leading_zeros() / 8) as usize);
            }
            if stops != 0 {
                let end = at + first_lane(stops);
                if lanes.non_ascii() & stops & stops.wrapping_neg() != 0 {
                    return None;
                }
                break end;
            }
            at += 8;
        };
        let run = WhitespaceRun {
            end,
            last_start: end - 1,
            last_newline_end,
        };
        Some(match self.pattern {
            Pattern::Cl100k => self.cl100k_whitespace_choice(start, &run),
            Pattern::O200k | Pattern::Tekken => self.o200k_whitespace_choice(start, &run),
        })
    }

    /// o200k's or Tekken's word in ASCII, starting at lane `lane` of the bytes from `start`:
    /// upper-case letters then lower-case ones (no ASCII letter is in both of the pattern's
    /// classes, so the regex never gives any back), then in o200k an optional contraction. The
    /// word stops at the first byte that is not a letter, or at an upper-case letter right
    /// after a lower-case one.
    #[inline(always)]
    fn cased_ascii_word_end<const CONTRACTIONS: bool>(
        &self,
        start: usize,
        lane: usize,
    ) -> Option<usize> {
        let end = self.ascii_run_end(start, lane, |lanes| {
            !lanes.letters() | (lanes.upper() & (lanes.lower() << 8))
        })?;
        if !CONTRACTIONS || self.text.get(end) != Some(&b'\'') {
            return Some(end);
        }
        Some(self.contraction_end(end).unwrap_or(end))
    }

    /// The end of a run that starts at lane `lane` of the bytes from `start`, where `stops` sets
    /// the lanes that end it (given eight bytes whose first lane is inside the run, it is only
    /// asked about the later ones). `None` when a non-ASCII byte ends it: that byte might
    /// continue the run.
    #[inline(always)]
    fn ascii_run_end(
        &self,
        start: usize,
        lane: usize,
        stops: impl Fn(Lanes) -> u64,
    ) -> Option<usize> {
        let (mut at, mut lane) = (start, lane);
        loop {
            let lanes = Lanes::at(self.text, at);
            let found = stops(lanes) & lanes_after(lane);
            if found != 0 {
                let first = found & found.wrapping_neg();
                return (lanes.non_ascii() & first == 0).then_some(at + first_lane(found));
            }
            // The last lane is inside the run: the next eight bytes start with it, so a stop
            // that depends on the byte before (o200k's case change) sees it.
            at += 7;
            lane = 0;
        }
    }

    /// `\p{N}{1,3}` in ASCII.
    #[inline(always)]
    fn ascii_digits_end(&self, start: usize) -> Option<usize> {
        let lanes = Lanes::at(self.text, start);
        let stops = !lanes.digits() & HIGH_BITS;
        let digits = first_lane(stops);
        if digits >= 3 {
            return Some(start + 3);
        }
        (lanes.non_ascii() & stops & stops.wrapping_neg() == 0).then_some(start + digits)
    }

    /// ` ?[^\s\p{L}\p{N}]+[<trailing>]*` in ASCII, given the kinds of the first two bytes (the
    /// second is not a letter); `None` for white space and non-ASCII bytes.
    #[inline(always)]
    fn ascii_symbols_end(
        &self,
        start: usize,
        first: u8,
        next: u8,
        trailing: &[u8],
    ) -> Option<usize> {
        let lane = if first & KIND_SYMBOL != 0 {
            0
        } else if self.text[start] == b' ' && next & KIND_SYMBOL != 0 {
            1
        } else {
            return None;
        };
        let mut position = self.ascii_run_end(start, lane, |lanes| !lanes.symbols())?;
        while self
            .text
            .get(position)
            .is_some_and(|byte| trailing.contains(byte))
        {
            position += 1;
        }
        Some(position)
    }

    fn cl100k_piece_end(&self, start: usize) -> usize {
        let (code_point, length) = self.char_at(start).expect("start is inside the text");
        let class = self.classes[code_point as usize];

        if code_point == u32::from(b'\'') {
            if let Some(end) = self.contraction_end(start) {
                return end;
            }
        }
        let prefix = may_lead_word(code_point, class);
        if let Some(end) = self.optional_prefix(start, length, prefix, Self::letters_end) {
            return end;
        }
        if class & NUMBER != 0 {
            return self.digits_end(start);
        }
        if let Some(end) = self.symbols_end(start, code_point, b"\r\n") {
            return end;
        }
        self.cl100k_whitespace_end(start)
    }

    fn o200k_piece_end(&self, start: usize) -> usize {
        self.cased_piece_end::<true>(start)
    }

    fn tekken_piece_end(&self, start: usize) -> usize {
        self.cased_piece_end::<false>(start)
    }

    /// The piece of o200k (with `CONTRACTIONS`, up to three digits) or Tekken (without, one
    /// digit), alternative by alternative.
    fn cased_piece_end<const CONTRACTIONS: bool>(&self, start: usize) -> usize {
        let (code_point, length) = self.char_at(start).expect("start is inside the text");
        let class = self.classes[code_point as usize];

        let prefix = may_lead_word(code_point, class);
        for word_end in [Self::upper_then_lower_end, Self::upper_lower_optional_end] {
            if let Some(end) = self.optional_prefix(start, length, prefix, word_end) {
                if !CONTRACTIONS {
                    return end;
                }
                return self.contraction_end(end).unwrap_or(end);
            }
        }
        if class & NUMBER != 0 {
            return if CONTRACTIONS {
                self.digits_end(start)
            } else {
                start + length
            };
        }
        if let Some(end) = self.symbols_end(start, code_point, b"\r\n/") {
            return end;
        }
        self.o200k_whitespace_end(start)
    }

    /// `X?WORD`: tries the word after the optional leading character first, then without it
    /// (the backtracking order of a greedy `?`).
    fn optional_prefix(
        &self,
        start: usize,
        length: usize,
        prefix: bool,
        word_end: fn(&Self, usize) -> Option<usize>,
    ) -> Option<usize> {
        if prefix {
            if let Some(end) = word_end(self, start + length) {
                return Some(end);
            }
        }
        word_end(self, start)
    }

    /// cl100k's `\p{L}+`.
    fn letters_end(&self, start: usize) -> Option<usize> {
        let end = self.run_end(start, LETTER);
        (end > start).then_some(end)
    }

    /// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+`.
    ///
    /// The leading run is greedy; when no lower-case character follows it, a backtracking engine
    /// gives characters back until the last one of the run that is also in the trailing class,
    /// so the match ends right after that character.
    fn upper_then_lower_end(&self, start: usize) -> Option<usize> {
        let mut position = start;
        let mut last_lower_end = None;
        while let Some((class, length)) = self.class_at(position) {
            if class & UPPER_RUN == 0 {
                break;
            }
            position += length;
            if class & LOWER_RUN != 0 {
                last_lower_end = Some(position);
            }
        }
        if self.has_class(position, LOWER_RUN) {
            return Some(self.run_end(position, LOWER_RUN));
        }
        last_lower_end
    }

    /// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*`.
    fn upper_lower_optional_end(&self, start: usize) -> Option<usize> {
        let upper_end = self.run_end(start, UPPER_RUN);
        (upper_end > start).then(|| self.run_end(upper_end, LOWER_RUN))
    }

    /// The end of the run of characters having any of `bits`, from `start`.
    fn run_end(&self, start: usize, bits: u8) -> usize {
        let mut position = start;
        while let Some((class, length)) = self.class_at(position) {
            if class & bits == 0 {
                break;
            }
            position += length;
        }
        position
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `start`, under Unicode simple case folding.
    fn contraction_end(&self, start: usize) -> Option<usize> {
        if self.text.get(start) != Some(&b'\'') {
            return None;
        }
        let (first, first_length) = self.char_at(start + 1)?;
        let first = fold_ascii_letter(first)?;
        if matches!(first, b's' | b't' | b'm' | b'd') {
            return Some(start + 1 + first_length);
        }
        let (second, second_length) = self.char_at(start + 1 + first_length)?;
        let second = fold_ascii_letter(second)?;
        matches!((first, second), (b'r', b'e') | (b'v', b'e') | (b'l', b'l'))
            .then_some(start + 1 + first_length + second_length)
    }

    /// `\p{N}{1,3}`.
    fn digits_end(&self, start: usize) -> usize {
        let mut position = start;
        for _ in 0..3 {
            match self.class_at(position) {
                Some((class, length)) if class & NUMBER != 0 => position += length,
                _ => break,
            }
        }
        position
    }

    /// ` ?[^\s\p{L}\p{N}]+[<trailing>]*`.
    fn symbols_end(&self, start: usize, code_point: u32, trailing: &[u8]) -> Option<usize> {
        let mut position = start;
        if code_point == u32::from(b' ') && self.is_symbol(start + 1) {
            position += 1;
        } else if !self.is_symbol(start) {
            return None;
        }
        while self.is_symbol(position) {
            position += self.char_at(position).map_or(1, |(_, length)| length);
        }
        while self
            .text
            .get(position)
            .is_some_and(|byte| trailing.contains(byte))
        {
            position += 1;
        }
        Some(position)
    }

    /// `\s++$|\s*[\r\n]|\s+(?!\S)|\s`.
    fn cl100k_whitespace_end(&self, start: usize) -> usize {
        self.cl100k_whitespace_choice(start, &self.whitespace_run(start))
    }

    /// Where cl100k's white-space alternatives end the piece at `start`, given its run.
    fn cl100k_whitespace_choice(&self, start: usize, run: &WhitespaceRun) -> usize {
        if run.end == self.text.len() {
            return run.end;
        }
        if let Some(end) = run.last_newline_end {
            return end;
        }
        if run.last_start > start {
            return run.last_start;
        }
        run.end
    }

    /// `\s*[\r\n]+|\s+(?!\S)|\s+`.
    fn o200k_whitespace_end(&self, start: usize) -> usize {
        self.o200k_whitespace_choice(start, &self.whitespace_run(start))
    }

    /// Where o200k's white-space alternatives end the piece at `start`, given its run.
    fn o200k_whitespace_choice(&self, start: usize, run: &WhitespaceRun) -> usize {
        if let Some(end) = run.last_newline_end {
            return end;
        }
        if run.end == self.text.len() || run.last_start == start {
            return run.end;
        }
        run.last_start
    }

    fn whitespace_run(&self, start: usize) -> WhitespaceRun {
        let mut run = WhitespaceRun {
            end: start,
            last_start: start,
            last_newline_end: None,
        };
        while let Some((class, length)) = self.class_at(run.end) {
            if class & WHITESPACE == 0 {
                break;
            }
            run.last_start = run.end;
            run.end += length;
            if matches!(self.text[run.last_start], b'\r' | b'\n') {
                run.last_newline_end = Some(run.end);
            }
        }
        run
    }
}

/// A maximal run of white space: where it ends, where its last character starts, and where
/// its last `\r` or `\n` ends (a backtracking `\s*[\r\n]` stops there).
struct WhitespaceRun {
    end: usize,
    last_start: usize,
    last_newline_end: Option<usize>,
}

/// `[^\r\n\p{L}\p{N}]`: the one character that may lead a word.
fn may_lead_word(code_point: u32, class: u8) -> bool {
    class & (LETTER | NUMBER) == 0
        && code_point != u32::from(b'\r')
        && code_point != u32::from(b'\n')
}

/// The lower-case ASCII letter a code point folds to, when it is one of the contraction letters.
/// Under Unicode simple case folding U+017F LATIN SMALL LETTER LONG S also folds to `s`.
fn fold_ascii_letter(code_point: u32) -> Option<u8> {
    if code_point == 0x017F {
        return Some(b's');
    }
    let byte = u8::try_from(code_point).ok()?;
    byte.is_ascii_alphabetic()
        .then_some(byte.to_ascii_lowercase())
}

/// Pieces of `text` under `pattern`, as byte ranges.
#[inline(always)]
pub(crate) fn pieces(text: &str, pattern: Pattern) -> Pieces<'_> {
    Pieces {
        scanner: Scanner::new(text, pattern),
        start: 0,
        window_start: 0,
        window_ends: 0,
    }
}

/// The pieces of a text, in order: from windows of 64 bytes where they decide, otherwise from
/// the scanner.
pub(crate) struct Pieces<'a> {
    scanner: Scanner<'a>,
    start: usize,
    window_start: usize,
    /// Ends of the pieces the last window decided and not yet returned, as bits from
    /// `window_start`.
    window_ends: u64,
}

impl Scanner<'_> {
    /// Ends of the pieces that the 64 bytes from `start` decide, as bits from `start`; 0 when
    /// the bytes are not there or do not begin with enough ASCII to pay for the window.
    #[inline(always)]
    fn window_ends(&self, start: usize) -> u64 {
        let Some(window) = self.text.get(start..start + WINDOW) else {
            return 0;
        };
        let window: &[u8; WINDOW] = window.try_into().expect("64 bytes");
        let ahead = (0..32)
            .step_by(8)
            .fold(0, |high, at| high | Lanes::at(window, at).non_ascii());
        if ahead != 0 {
            return 0;
        }
        self.split_window(window)
    }

    #[inline(never)]
    fn split_window(&self, window: &[u8; WINDOW]) -> u64 {
        window_starts(self.pattern, window, &WindowClasses::of(window)) & !1
    }
}

impl Iterator for Pieces<'_> {
    type Item = (usize, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.window_ends == 0 {
            let &first = self.scanner.text.get(self.start)?;
            if first < 0x80 {
                self.window_start = self.start;
                self.window_ends = self.scanner.window_ends(self.start);
            }
        }
        let start = self.start;
        let end = if self.window_ends != 0 {
            let end = self.window_start + self.window_ends.trailing_zeros() as usize;
            self.window_ends &= self.window_ends - 1;
            end
        } else {
            self.scanner.piece_end(start)
        };
        self.start = end;
        Some((start, end))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const PATTERNS: [Pattern; 3] = [Pattern::Cl100k, Pattern::O200k, Pattern::Tekken];

    fn split(text: &str, pattern: Pattern) -> Vec<&str> {
        pieces(text, pattern)
            .map(|(start, end)| &text[start..end])
            .collect()
    }

    /// The class ranges as the pure-Python path reads them (`unicode_classes.json`).
    fn unicode_classes_json() -> String {
        let classes: Vec<String> = CLASS_DEFINITIONS
            .iter()
            .map(|(name, pattern, _)| {
                let ranges: Vec<String> = unicode_ranges(pattern)
                    .iter()
                    .map(|(start, end)| format!("[{start},{end}]"))
                    .collect();
                format!("    \"{name}\": [{}]", ranges.join(","))
            })
            .collect();
        let source = "regex-syntax 0.8 Unicode tables, written by rust/pretokenize.rs \
                      (cargo test -- --ignored regenerate_unicode_classes)";
        format!(
            "{{\n  \"unicode_version\": \"16.0.0\",\n  \"source\": \"{source}\",\n  \
             \"classes\": {{\n{}\n  }}\n}}\n",
            classes.join(",\n")
        )
    }

    fn unicode_classes_path() -> std::path::PathBuf {
        let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest_dir.join("python/shoal/data/vocab/unicode_classes.json")
    }

    #[test]
    fn shipped_unicode_classes_match_the_rust_tables() {
        let shipped = std::fs::read_to_string(unicode_classes_path()).expect("read classes");
        assert!(
            shipped == unicode_classes_json(),
            "unicode_classes.json is stale: cargo test -- --ignored regenerate_unicode_classes"
        );
    }

    #[test]
    #[ignore = "writes python/shoal/data/vocab/unicode_classes.json"]
    fn regenerate_unicode_classes() {
        std::fs::write(unicode_classes_path(), unicode_classes_json()).expect("write classes");
    }

    #[test]
    fn cl100k_pieces() {
        let text = "Hello world's  tests\n\n  123456 !!?\r\n  end  ";
        let expected = [
            "Hello", " world", "'s", " ", " tests", "\n\n", " ", " ", "123", "456", " !!?\r\n",
            " ", " end", "  ",
        ];
        assert_eq!(split(text, Pattern::Cl100k), expected);
    }

    #[test]
    fn o200k_pieces() {
        let text = "CamelCase HTTPServer don't ab/cd\n x  ";
        let expected = [
            "Camel",
            "Case",
            " HTTPServer",
            " don't",
            " ab",
            "/cd",
            "\n",
            " x",
            "  ",
        ];
        assert_eq!(split(text, Pattern::O200k), expected);
    }

    #[test]
    fn tekken_pieces() {
        // As o200k, but every digit is a piece and an apostrophe never joins the word before it.
        let text = "CamelCase HTTPServer don't I'LL 2024-12 ab/cd\n x  ";
        let expected = [
            "Camel",
            "Case",
            " HTTPServer",
            " don",
            "'t",
            " I",
            "'LL",
            " ",
            "2",
            "0",
            "2",
            "4",
            "-",
            "1",
            "2",
            " ab",
            "/cd",
            "\n",
            " x",
            "  ",
        ];
        assert_eq!(split(text, Pattern::Tekken), expected);
        // Digits of any script are one a piece, and a piece never takes more than one.
        assert_eq!(split("٣٤5x", Pattern::Tekken), ["٣", "٤", "5", "x"]);
        assert_eq!(split("we've", Pattern::Tekken), ["we", "'ve"]);
        assert_eq!(split("x'é", Pattern::Tekken), ["x", "'é"]);
    }

    #[test]
    fn o200k_backtracks_to_last_lower_class_character() {
        // U+02B0 (Lm) is in both word classes: "AʰB" ends the first alternative after "ʰ".
        assert_eq!(split("AʰB", Pattern::O200k), ["Aʰ", "B"]);
        // A combining mark (Mn) may lead a word and is itself a word character.
        assert_eq!(split("\u{301}x", Pattern::O200k), ["\u{301}x"]);
    }

    #[test]
    fn contraction_letters_match_regex_syntax_case_folding() {
        for letter in ['s', 't', 'r', 'e', 'v', 'm', 'l', 'd'] {
            for (start, end) in unicode_ranges(&format!("(?i:{letter})")) {
                for code_point in start..=end {
                    assert_eq!(
                        fold_ascii_letter(code_point),
                        Some(letter as u8),
                        "{code_point:X}"
                    );
                }
            }
        }
    }

    #[test]
    fn pieces_cover_the_text() {
        let text = "a\u{a0}\u{a0}b \t\r\n\u{3000}x—y 12345 ʼn 漢字 🙂\u{200d}🙂";
        for pattern in PATTERNS {
            assert_eq!(split(text, pattern).concat(), text);
        }
    }

    /// Pieces found by the Unicode path alone, which follows the pattern alternative by
    /// alternative: the reference for the ASCII fast paths.
    fn split_by_unicode_path(text: &str, pattern: Pattern) -> Vec<&str> {
        let scanner = Scanner::new(text, pattern);
        let mut found = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let end = match pattern {
                Pattern::Cl100k => scanner.cl100k_piece_end(start),
                Pattern::O200k => scanner.o200k_piece_end(start),
                Pattern::Tekken => scanner.tekken_piece_end(start),
            };
            found.push(&text[start..end]);
            start = end;
        }
        found
    }

    /// A small deterministic generator for test inputs (no extra dependency).
    pub(crate) struct Lcg(pub(crate) u64);

    impl Lcg {
        pub(crate) fn below(&mut self, bound: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % bound as u64) as usize
        }
    }

    /// Random texts of `units`, at lengths that put pieces across the eight-byte words and the
    /// 64-byte windows the fast paths read. Runs of one unit make long words, numbers and white
    /// space.
    fn random_texts(units: &[&str], seed: u64, count: usize, longest: usize) -> Vec<String> {
        let mut random = Lcg(seed);
        (0..count)
            .map(|_| {
                let length = random.below(longest);
                let mut text = String::new();
                while text.len() < length {
                    let unit = units[random.below(units.len())];
                    for _ in 0..1 + random.below(4) * random.below(6) {
                        text.push_str(unit);
                    }
                }
                text
            })
            .collect()
    }

    /// Every ASCII class the fast paths tell apart and the characters that decide
    /// contractions.
    const ASCII_UNITS: [&str; 34] = [
        "a", "b", "s", "t", "E", "L", "R", "V", "D", "M", "x", "Q", "0", "7", " ", " ", " ", "\t",
        "\n", "\n", "\r", "\x0b", "\x0c", "'", "'", "/", ".", "-", "\"", "{", ";", "ll", "re",
        "\x00",
    ];

    /// Non-ASCII letters, marks, digits, white space and symbols.
    const OTHER_UNITS: [&str; 12] = [
        "é", "É", "ʰ", "\u{301}", "漢", "٣", "\u{a0}", "\u{3000}", "\u{17f}", "🙂", "\u{85}",
        "\u{2028}",
    ];

    #[test]
    fn fast_paths_split_as_the_unicode_path() {
        let mixed = [&ASCII_UNITS[..], &OTHER_UNITS[..]].concat();
        let ascii_mostly = [
            &ASCII_UNITS[..],
            &ASCII_UNITS[..],
            &ASCII_UNITS[..],
            &["é", "\u{a0}"],
        ]
        .concat();
        for pattern in PATTERNS {
            for units in [&mixed, &ascii_mostly, &ASCII_UNITS.to_vec()] {
                for text in random_texts(units, 11, 10_000, 300) {
                    let expected = split_by_unicode_path(&text, pattern);
                    assert_eq!(split(&text, pattern), expected, "{text:?}");
                }
            }
        }
    }

    /// Cases each rule of the window path exists for, at every offset across a window's end.
    #[test]
    fn fast_paths_split_rule_cases_as_the_unicode_path() {
        let cases = [
            "it's's",
            "it's'sx",
            "we'lL",
            "don'tknow",
            "rock'n'roll",
            "x'",
            "x'S",
            "x'RE",
            "x'rex",
            "''s",
            "x;\n// c",
            "};\n/x",
            ".\n/\n/-y",
            "a .b",
            "a..b",
            "\t.",
            "  \t x",
            ";\n  \n  x",
            ";\n\n\t\ty",
            "ABcDEf",
            "aBC",
            "1234567",
            "x1y",
            " 5",
            "\r\n\r\n",
            "a\x0b\x0cb",
            " \n x",
            "\n\n x",
            "x\n;\n",
            "é's",
            "x'é",
            "'sx",
            " 's",
            "x''s",
            "'ll've",
            "'S'T",
            ";\n'd",
        ];
        for pattern in PATTERNS {
            for case in cases {
                for offset in 0..80 {
                    let text = format!(
                        "{}{case}{}",
                        "ab c".repeat(20)[..offset].to_owned(),
                        " d".repeat(40)
                    );
                    assert_eq!(
                        split(&text, pattern),
                        split_by_unicode_path(&text, pattern),
                        "{text:?}"
                    );
                }
            }
        }
    }

    /// Both ways of classifying a window agree, on every byte value in every position.
    #[test]
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    fn window_classes_agree() {
        let mut random = Lcg(5);
        for round in 0..20_000 {
            let window: [u8; WINDOW] = std::array::from_fn(|at| match round {
                0..=255 => (round as u8).wrapping_add(at as u8),
                _ => random.below(256) as u8,
            });
            assert_eq!(
                WindowClasses::of_sse2(&window),
                WindowClasses::of_lanes(&window)
            );
        }
    }

    #[test]
    fn fast_paths_split_the_corpus_as_the_unicode_path() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
        for entry in std::fs::read_dir(corpus).expect("corpus folder") {
            let text = std::fs::read_to_string(entry.expect("corpus file").path()).expect("text");
            for pattern in PATTERNS {
                assert!(split(&text, pattern) == split_by_unicode_path(&text, pattern));
            }
        }
    }

    #[test]
    fn fast_paths_split_long_ascii_runs_as_the_unicode_path() {
        let units = [
            "word", "Word", "WORD", "wORD", "123", " ", "\n", " \n", "\t", "!?", "'s", "/",
        ];
        for pattern in PATTERNS {
            for unit in units {
                for repeats in [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65] {
                    for (head, tail) in [("", ""), (" ", "x"), ("x", " "), (".", "\n"), ("é", "漢")]
                    {
                        let text = format!("{head}{}{tail}", unit.repeat(repeats));
                        let expected = split_by_unicode_path(&text, pattern);
                        assert_eq!(split(&text, pattern), expected, "{text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn ascii_tables_match_the_unicode_tables() {
        for byte in 0..128u8 {
            assert_eq!(
                ASCII_CLASSES[usize::from(byte)],
                CLASSES[usize::from(byte)],
                "{byte}"
            );
        }
        for byte in 128..=255u8 {
            assert_eq!(BYTE_KINDS[usize::from(byte)], KIND_OTHER);
        }
    }
}
