//! Early sanity check of a `.safetensors` header, run as soon as the first bytes are on disk,
//! so a wrong or truncated file fails in seconds instead of after gigabytes.

/// Headers larger than this are rejected (the format's reference reader uses 100 MB).
pub const MAX_HEADER: u64 = 100_000_000;

/// Header length from the first 8 bytes (little-endian u64).
pub fn header_len(first8: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*first8)
}

/// Validate `header` (the JSON after the 8-byte length) against the file size: JSON object,
/// each tensor with `dtype`, `shape`, `data_offsets` `[begin, end]` inside the data section.
pub fn validate(header_len: u64, header: &[u8], file_size: u64) -> Result<(), String> {
    if header_len > MAX_HEADER {
        return Err(format!(
            "header length {header_len} is larger than {MAX_HEADER}"
        ));
    }
    let data_start = 8u64.saturating_add(header_len);
    if data_start > file_size {
        return Err(format!(
            "header length {header_len} runs past the end of the {file_size}-byte file"
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("header is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("header is not a JSON object")?;
    let data_len = file_size - data_start;
    for (name, t) in obj {
        if name == "__metadata__" {
            continue;
        }
        let offs = t
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .filter(|a| a.len() == 2)
            .ok_or_else(|| format!("tensor {name:?} has no [begin, end] data_offsets"))?;
        let b = offs[0]
            .as_u64()
            .ok_or_else(|| format!("tensor {name:?}: bad offset"))?;
        let e = offs[1]
            .as_u64()
            .ok_or_else(|| format!("tensor {name:?}: bad offset"))?;
        if b > e || e > data_len {
            return Err(format!(
                "tensor {name:?} data_offsets [{b}, {e}] are outside the {data_len}-byte data section"
            ));
        }
        if t.get("dtype").and_then(|d| d.as_str()).is_none()
            || t.get("shape").and_then(|s| s.as_array()).is_none()
        {
            return Err(format!("tensor {name:?} has no dtype or shape"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_and_rejects_bad_headers() {
        let h = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert!(validate(h.len() as u64, h, 8 + h.len() as u64 + 8).is_ok());
        assert!(validate(h.len() as u64, h, 8 + h.len() as u64 + 4).is_err());
        assert!(validate(5, b"{oops", 100).is_err());
        assert!(validate(1 << 40, b"", 100).is_err());
        assert!(validate(50, &[b' '; 50], 20).is_err());
    }
}
