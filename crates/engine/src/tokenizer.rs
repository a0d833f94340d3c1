//! Text pieces from a SentencePiece model (`tokenizer_spm_32k_3.model`), read directly from its
//! protobuf: a `ModelProto` whose field 1 is `repeated SentencePiece { 1: piece, 2: score,
//! 3: type }`. Moshi only needs id → piece for display, so no sentencepiece dependency.

use crate::error::EngineError;
use std::path::Path;

/// Id → piece table.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    pieces: Vec<String>,
}

/// Ids never shown: 0 (EPAD, "no text this frame") and 3 (PAD), as `moshi_mlx/local*.py`.
pub const SKIPPED_IDS: [u32; 2] = [0, 3];

impl TextTokenizer {
    /// Reads a `.model` file.
    pub fn load(path: &Path) -> Result<TextTokenizer, EngineError> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
        Self::from_bytes(&bytes)
            .map_err(|m| EngineError::Config(format!("{}: {m}", path.display())))
    }

    /// Parses the serialized `ModelProto`.
    pub fn from_bytes(bytes: &[u8]) -> Result<TextTokenizer, String> {
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
            return Err("no pieces: not a SentencePiece model".into());
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
        self.pieces.get(id as usize).map(String::as_str)
    }

    /// The text to display for `id`: `None` for ids 0 and 3 and unknown ids, else the piece
    /// with `▁` replaced by a space.
    pub fn display(&self, id: u32) -> Option<String> {
        if SKIPPED_IDS.contains(&id) {
            return None;
        }
        self.piece(id).map(|p| p.replace('▁', " "))
    }
}

fn parse_piece(b: &[u8]) -> Result<String, String> {
    let mut r = Reader { b, pos: 0 };
    let mut piece = String::new();
    while !r.done() {
        let (field, wire) = r.key()?;
        if field == 1 && wire == 2 {
            piece = String::from_utf8(r.bytes()?.to_vec()).map_err(|e| e.to_string())?;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(piece)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn key(&mut self) -> Result<(u64, u8), String> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()? as usize;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or("truncated field")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, wire: u8) -> Result<(), String> {
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
            w => return Err(format!("unsupported wire type {w}")),
        };
        if self.pos + n > self.b.len() {
            return Err("truncated field".into());
        }
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(p: &str) -> Vec<u8> {
        let mut sub = vec![0x0a, p.len() as u8];
        sub.extend(p.as_bytes());
        sub.extend([0x15, 0, 0, 0x80, 0xbf, 0x18, 1]); // score -1.0, type 1
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
    }
}
