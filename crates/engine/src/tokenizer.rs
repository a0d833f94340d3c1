//! Text pieces from a SentencePiece model (`tokenizer_spm_32k_3.model`), read directly from its
//! protobuf: a `ModelProto` whose field 1 is `repeated SentencePiece { 1: piece, 2: score,
//! 3: type }`. Moshi only needs id → text for display, one token per frame, so no
//! sentencepiece dependency: [`TextDecoder`] hides control and unknown pieces and assembles
//! byte-fallback pieces (`<0xE2><0x80><0x99>` → `’`) into UTF-8 across frames, as
//! sentencepiece's own `decode` does for a whole sequence.

use crate::error::EngineError;
pub use crate::error::TokenizerError;
use std::path::Path;

/// A piece's type (`SentencePiece.Type` in sentencepiece_model.proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// Ordinary text.
    Normal,
    /// `<unk>`: never displayed.
    Unknown,
    /// `<s>`, `</s>`, `<pad>`: never displayed.
    Control,
    /// User-defined symbols: displayed as is.
    UserDefined,
    /// Unused slots: never displayed.
    Unused,
    /// A byte-fallback piece `<0xHH>`: one byte of a UTF-8 sequence.
    Byte(u8),
}

#[derive(Debug, Clone)]
struct Piece {
    text: String,
    kind: PieceKind,
}

/// Id → piece table.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    pieces: Vec<Piece>,
}

/// Ids never shown: 0 (EPAD, "no text this frame") and 3 (PAD), as `moshi_mlx/local*.py`.
pub const SKIPPED_IDS: [u32; 2] = [0, 3];

impl TextTokenizer {
    /// Reads a `.model` file.
    pub fn load(path: &Path) -> Result<TextTokenizer, EngineError> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
        Self::from_bytes(&bytes).map_err(|source| EngineError::Tokenizer {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses the serialized `ModelProto`.
    pub fn from_bytes(bytes: &[u8]) -> Result<TextTokenizer, TokenizerError> {
        let mut pieces = Vec::new();
        let mut r = Reader { b: bytes, pos: 0 };
        while !r.done() {
            let (field, wire) = r.key()?;
            if field == 1 && wire == 2 {
                let sub = r.bytes()?;
                pieces.push(parse_piece(sub)?);
            } else {
                r.skip(wire)?;
            }
        }
        if pieces.is_empty() {
            return Err(TokenizerError::NoPieces);
        }
        Ok(TextTokenizer { pieces })
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the vocabulary is empty (never, for a parsed model).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The raw piece of `id` (`▁` kept).
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(|p| p.text.as_str())
    }

    /// The type of `id`'s piece.
    pub fn kind(&self, id: u32) -> Option<PieceKind> {
        self.pieces.get(id as usize).map(|p| p.kind)
    }

    /// The text of `id` on its own: `None` for ids 0 and 3 (Moshi's EPAD and PAD), control,
    /// unknown and unused pieces, byte pieces (a lone byte is no text: use [`TextDecoder`])
    /// and ids out of range; else the piece with `▁` replaced by a space.
    pub fn display(&self, id: u32) -> Option<String> {
        if SKIPPED_IDS.contains(&id) {
            return None;
        }
        let p = self.pieces.get(id as usize)?;
        match p.kind {
            PieceKind::Normal | PieceKind::UserDefined => Some(p.text.replace('▁', " ")),
            PieceKind::Unknown | PieceKind::Control | PieceKind::Unused | PieceKind::Byte(_) => {
                None
            }
        }
    }
}

/// Turns the text tokens of a conversation, one at a time, into display text: hides what
/// [`TextTokenizer::display`] hides and assembles byte-fallback pieces into UTF-8 across
/// tokens (frames). Bytes that cannot form UTF-8 become U+FFFD, as in sentencepiece.
#[derive(Debug, Clone)]
pub struct TextDecoder {
    tokenizer: TextTokenizer,
    pending: Vec<u8>,
}

impl TextDecoder {
    /// A decoder with nothing pending.
    pub fn new(tokenizer: TextTokenizer) -> Self {
        TextDecoder {
            tokenizer,
            pending: Vec::with_capacity(4),
        }
    }

    /// The text token `id` contributes (`None` when nothing is ready to show yet).
    pub fn push(&mut self, id: u32) -> Option<String> {
        let mut out = String::new();
        match self.tokenizer.kind(id) {
            _ if SKIPPED_IDS.contains(&id) => {}
            Some(PieceKind::Byte(b)) => {
                self.pending.push(b);
                self.drain(&mut out, false);
            }
            Some(PieceKind::Normal | PieceKind::UserDefined) => {
                self.drain(&mut out, true);
                if let Some(t) = self.tokenizer.display(id) {
                    out.push_str(&t);
                }
            }
            Some(PieceKind::Unknown | PieceKind::Control | PieceKind::Unused) | None => {}
        }
        (!out.is_empty()).then_some(out)
    }

    /// Forgets pending bytes (a new conversation).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// The underlying tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Moves the complete UTF-8 prefix of the pending bytes to `out`, invalid bytes as U+FFFD;
    /// an incomplete tail stays pending unless `flush`.
    fn drain(&mut self, out: &mut String, flush: bool) {
        loop {
            let (good, bad) = match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => (e.valid_up_to(), e.error_len()),
            };
            if let Ok(s) = std::str::from_utf8(&self.pending[..good]) {
                out.push_str(s);
            }
            match bad {
                Some(n) => {
                    out.push('\u{FFFD}');
                    self.pending.drain(..good + n);
                }
                None if flush => {
                    out.push('\u{FFFD}');
                    self.pending.clear();
                    return;
                }
                None => {
                    self.pending.drain(..good);
                    return;
                }
            }
        }
    }
}

fn parse_piece(b: &[u8]) -> Result<Piece, TokenizerError> {
    let mut r = Reader { b, pos: 0 };
    let mut text = String::new();
    let mut kind = 1;
    while !r.done() {
        let (field, wire) = r.key()?;
        if field == 1 && wire == 2 {
            text = String::from_utf8(r.bytes()?.to_vec())?;
        } else if field == 3 && wire == 0 {
            kind = r.varint()?;
        } else {
            r.skip(wire)?;
        }
    }
    let kind = match kind {
        1 => PieceKind::Normal,
        2 => PieceKind::Unknown,
        3 => PieceKind::Control,
        4 => PieceKind::UserDefined,
        5 => PieceKind::Unused,
        6 => {
            PieceKind::Byte(byte_of(&text).ok_or_else(|| TokenizerError::BytePiece(text.clone()))?)
        }
        other => {
            return Err(TokenizerError::PieceType {
                piece: text,
                kind: other,
            })
        }
    };
    Ok(Piece { text, kind })
}

/// The byte of a byte-fallback piece `<0xHH>`.
fn byte_of(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn varint(&mut self) -> Result<u64, TokenizerError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos).ok_or(TokenizerError::Truncated)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(TokenizerError::VarintTooLong)
    }

    fn key(&mut self) -> Result<(u64, u8), TokenizerError> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }

    fn bytes(&mut self) -> Result<&'a [u8], TokenizerError> {
        let n = self.varint()? as usize;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or(TokenizerError::Truncated)?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, wire: u8) -> Result<(), TokenizerError> {
        let n = match wire {
            0 => {
                self.varint()?;
                0
            }
            1 => 8,
            2 => {
                self.bytes()?;
                0
            }
            5 => 4,
            w => return Err(TokenizerError::WireType(w)),
        };
        if self.pos + n > self.b.len() {
            return Err(TokenizerError::Truncated);
        }
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(p: &str) -> Vec<u8> {
        let kind = match p {
            "<unk>" => 2,
            "<s>" | "</s>" | "<pad>" => 3,
            _ if p.starts_with("<0x") => 6,
            _ => 1,
        };
        let mut sub = vec![0x0a, p.len() as u8];
        sub.extend(p.as_bytes());
        sub.extend([0x15, 0, 0, 0x80, 0xbf, 0x18, kind]); // score -1.0, type
        let mut out = vec![0x0a, sub.len() as u8];
        out.extend(sub);
        out
    }

    #[test]
    fn parses_pieces_and_skips_other_fields() {
        let mut b = Vec::new();
        for p in ["<unk>", "<s>", "</s>", "<pad>", "▁hello", "lo"] {
            b.extend(piece(p));
        }
        b.extend([0x12, 0x02, 0x08, 0x01]); // trainer_spec (field 2), skipped
        let t = TextTokenizer::from_bytes(&b).expect("parse");
        assert_eq!(t.len(), 6);
        assert_eq!(t.display(4).as_deref(), Some(" hello"));
        assert_eq!(t.display(5).as_deref(), Some("lo"));
        assert_eq!(t.display(0), None);
        assert_eq!(t.display(3), None);
        assert_eq!(t.display(99), None);
        assert_eq!(t.display(1), None, "control");
    }

    #[test]
    fn bytes_assemble_across_tokens_and_bad_bytes_are_replaced() {
        let mut b = Vec::new();
        for p in [
            "<unk>", "<s>", "</s>", "<pad>", "▁it", "<0xE2>", "<0x80>", "<0x99>", "s",
        ] {
            b.extend(piece(p));
        }
        let t = TextTokenizer::from_bytes(&b).expect("parse");
        assert_eq!(t.kind(5), Some(PieceKind::Byte(0xE2)));
        let mut d = TextDecoder::new(t);
        let out: Vec<Option<String>> = [4, 5, 0, 6, 3, 7, 8].iter().map(|&i| d.push(i)).collect();
        let want = [Some(" it"), None, None, None, None, Some("’"), Some("s")];
        assert_eq!(out, want.map(|w| w.map(String::from)));
        // A sequence cut short by a normal piece: U+FFFD, then the piece.
        assert_eq!(d.push(5), None);
        assert_eq!(d.push(8).as_deref(), Some("\u{FFFD}s"));
        // A continuation byte on its own is invalid at once.
        assert_eq!(d.push(6).as_deref(), Some("\u{FFFD}"));
        // reset drops pending bytes.
        assert_eq!(d.push(5), None);
        d.reset();
        assert_eq!(d.push(8).as_deref(), Some("s"));
    }

    /// Malformed files fail with the kind of damage, and `load` names the file and keeps the
    /// parse error as its source.
    #[test]
    fn malformed_models_fail_with_a_typed_cause() {
        let mut b = piece("▁hello");
        b.truncate(b.len() - 3);
        assert!(matches!(
            TextTokenizer::from_bytes(&b),
            Err(TokenizerError::Truncated)
        ));
        let bad_utf8 = [0x0a, 4, 0x0a, 2, 0xff, 0xfe];
        assert!(matches!(
            TextTokenizer::from_bytes(&bad_utf8),
            Err(TokenizerError::NotUtf8(_))
        ));
        assert!(matches!(
            TextTokenizer::from_bytes(&[0x12, 0x00]),
            Err(TokenizerError::NoPieces)
        ));
        assert!(matches!(
            TextTokenizer::from_bytes(&[0x0b]),
            Err(TokenizerError::WireType(3))
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("broken.model");
        std::fs::write(&path, &b).expect("write");
        let e = TextTokenizer::load(&path).expect_err("truncated model");
        assert!(e.to_string().contains("broken.model"), "{e}");
        let source = std::error::Error::source(&e).expect("the parse error is kept");
        assert!(
            source.downcast_ref::<TokenizerError>().is_some(),
            "{source:?}"
        );
    }
}
