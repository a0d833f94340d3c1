//! A streaming `multipart/byteranges` parser (RFC 9110 §14.6) for multi-range xorb transfers.
//!
//! Memory stays bounded whatever the server sends: the preamble, each part's header block and
//! the epilogue have fixed caps, and part data is handed on as it arrives, never buffered.
//! Every part must carry a `Content-Range` naming exactly one of the ranges asked, each range
//! at most once, with exactly that many data bytes before the next delimiter; the body must
//! end with the closing delimiter after all asked ranges. Anything else is an error, so a
//! lying server cannot make the reader write a byte it did not ask for.

/// Longest preamble before the first delimiter.
const MAX_PREAMBLE: usize = 1024;
/// Longest header block of one part.
const MAX_HEADERS: usize = 8 * 1024;
/// Longest epilogue after the closing delimiter.
const MAX_EPILOGUE: usize = 1024;

/// A `multipart/byteranges` body that does not follow RFC 9110 or does not answer the ranges
/// asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// No `boundary=` parameter in the `Content-Type`.
    #[error("multipart answer without a boundary: {0:?}")]
    NoBoundary(String),
    /// The first delimiter did not come within the preamble cap.
    #[error("multipart answer: no delimiter in the first {MAX_PREAMBLE} bytes")]
    NoDelimiter,
    /// A delimiter followed by neither CRLF nor `--`.
    #[error("multipart answer: malformed delimiter line")]
    BadDelimiter,
    /// A part's header block is longer than the cap or not text.
    #[error("multipart answer: part headers too long or not text")]
    BadHeaders,
    /// A part without a parseable `Content-Range: bytes a-b/len`.
    #[error("multipart answer: part without a valid Content-Range")]
    NoContentRange,
    /// A part for bytes that were not asked (or asked once and sent twice).
    #[error("multipart answer: part for bytes {0}-{1}, not a range asked (or sent twice)")]
    Unasked(u64, u64),
    /// A part's data is not followed by the next delimiter (the part is longer than its
    /// `Content-Range`, or the body is malformed).
    #[error("multipart answer: part data not followed by a delimiter")]
    Overlong,
    /// Too many bytes after the closing delimiter.
    #[error("multipart answer: epilogue longer than {MAX_EPILOGUE} bytes")]
    Epilogue,
    /// The body ended before the closing delimiter or without every asked range.
    #[error("multipart answer ended early ({0} of {1} ranges)")]
    Truncated(usize, usize),
}

/// What the parser hands on, in body order.
#[derive(Debug, PartialEq, Eq)]
pub enum Part<'a> {
    /// A part for asked range `n` (index into the ranges given to [`Multipart::new`]) begins.
    Start(usize),
    /// Data bytes of the current part.
    Data(&'a [u8]),
    /// The current part is complete (all its bytes were handed on).
    End(usize),
}

enum State {
    Preamble,
    /// Just after a delimiter: `\r\n` (a part follows) or `--` (the end).
    AfterDelimiter,
    /// Collecting a part's header block (in `buf`, starting with the CRLF that ended the
    /// delimiter line).
    Headers,
    Data {
        part: usize,
        left: u64,
    },
    /// After a part's data: `\r\n--boundary` must follow.
    AfterData,
    Done,
}

/// Parser state for one multipart answer.
pub struct Multipart {
    delimiter: Vec<u8>,
    asked: Vec<(u64, u64)>,
    seen: Vec<bool>,
    state: State,
    buf: Vec<u8>,
    epilogue: usize,
}

/// The `boundary` parameter of a `multipart/byteranges` content type (`None` for any other
/// type).
pub fn boundary(content_type: &str) -> Result<Option<String>, MultipartError> {
    let mut params = content_type.split(';');
    let kind = params.next().unwrap_or("").trim();
    if !kind.eq_ignore_ascii_case("multipart/byteranges") {
        return Ok(None);
    }
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim().trim_matches('"');
            // RFC 2046: 1 to 70 characters.
            if !v.is_empty() && v.len() <= 70 {
                return Ok(Some(v.to_string()));
            }
        }
    }
    Err(MultipartError::NoBoundary(content_type.to_string()))
}

impl Multipart {
    /// A parser for an answer to `asked` (inclusive byte ranges) delimited by `boundary`.
    pub fn new(boundary: &str, asked: Vec<(u64, u64)>) -> Self {
        let mut delimiter = b"--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Multipart {
            delimiter,
            seen: vec![false; asked.len()],
            asked,
            state: State::Preamble,
            buf: Vec::new(),
            epilogue: 0,
        }
    }

    /// Feeds the next body bytes; `on` gets the parts' starts, data and ends in order. An
    /// error from `on` stops the parse and is returned as `Err(Ok(e))`; a malformed body is
    /// `Err(Err(MultipartError))`.
    pub fn push<E>(
        &mut self,
        input: &[u8],
        mut on: impl FnMut(Part<'_>) -> Result<(), E>,
    ) -> Result<(), Result<E, MultipartError>> {
        self.feed(input, &mut on)
    }

    /// [`Multipart::push`] with the callback behind a reference (it re-enters itself for
    /// bytes read ahead past the first delimiter).
    fn feed<E>(
        &mut self,
        mut input: &[u8],
        on: &mut dyn FnMut(Part<'_>) -> Result<(), E>,
    ) -> Result<(), Result<E, MultipartError>> {
        while !input.is_empty() {
            match &mut self.state {
                State::Preamble => {
                    let take = input
                        .len()
                        .min(MAX_PREAMBLE + self.delimiter.len() - self.buf.len());
                    self.buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if let Some(at) = find(&self.buf, &self.delimiter) {
                        // Bytes after the delimiter go back to the input.
                        let rest = self.buf.split_off(at + self.delimiter.len());
                        self.buf.clear();
                        self.state = State::AfterDelimiter;
                        self.feed(&rest, on)?;
                    } else if self.buf.len() >= MAX_PREAMBLE + self.delimiter.len() {
                        return Err(Err(MultipartError::NoDelimiter));
                    }
                }
                State::AfterDelimiter => {
                    let need = 2 - self.buf.len();
                    let take = need.min(input.len());
                    self.buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.buf.len() == 2 {
                        match self.buf.as_slice() {
                            b"\r\n" => self.state = State::Headers,
                            b"--" => {
                                if self.seen.iter().any(|s| !s) {
                                    return Err(Err(self.truncated()));
                                }
                                self.buf.clear();
                                self.state = State::Done;
                            }
                            _ => return Err(Err(MultipartError::BadDelimiter)),
                        }
                    }
                }
                State::Headers => {
                    // `buf` starts with the delimiter line's CRLF: an empty header block is
                    // "\r\n\r\n" at once.
                    let before = self.buf.len();
                    let take = input.len().min(MAX_HEADERS + 4 - before);
                    self.buf.extend_from_slice(&input[..take]);
                    let search_from = before.saturating_sub(3);
                    match find(&self.buf[search_from..], b"\r\n\r\n") {
                        Some(rel) => {
                            let end = search_from + rel;
                            let used = end + 4 - before;
                            let part = self.part_of(&self.buf[2.min(end)..end]).map_err(Err)?;
                            input = &input[used..];
                            self.buf.clear();
                            self.seen[part] = true;
                            let (a, b) = self.asked[part];
                            self.state = State::Data {
                                part,
                                left: b - a + 1,
                            };
                            on(Part::Start(part)).map_err(Ok)?;
                        }
                        None => {
                            input = &input[take..];
                            if self.buf.len() >= MAX_HEADERS + 4 {
                                return Err(Err(MultipartError::BadHeaders));
                            }
                        }
                    }
                }
                State::Data { part, left } => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let part_n = *part;
                    *left -= n as u64;
                    let done = *left == 0;
                    if n > 0 {
                        on(Part::Data(&input[..n])).map_err(Ok)?;
                    }
                    input = &input[n..];
                    if done {
                        self.state = State::AfterData;
                        on(Part::End(part_n)).map_err(Ok)?;
                    }
                }
                State::AfterData => {
                    let want = 2 + self.delimiter.len();
                    let take = (want - self.buf.len()).min(input.len());
                    self.buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let expect_len = self.buf.len();
                    let mut expected = b"\r\n".to_vec();
                    expected.extend_from_slice(&self.delimiter);
                    if self.buf[..] != expected[..expect_len] {
                        return Err(Err(MultipartError::Overlong));
                    }
                    if self.buf.len() == want {
                        self.buf.clear();
                        self.state = State::AfterDelimiter;
                    }
                }
                State::Done => {
                    self.epilogue += input.len();
                    if self.epilogue > MAX_EPILOGUE {
                        return Err(Err(MultipartError::Epilogue));
                    }
                    input = &[];
                }
            }
        }
        Ok(())
    }

    /// The body ended: every asked range must have come and the closing delimiter too.
    pub fn finish(&self) -> Result<(), MultipartError> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(self.truncated()),
        }
    }

    fn truncated(&self) -> MultipartError {
        MultipartError::Truncated(self.seen.iter().filter(|s| **s).count(), self.asked.len())
    }

    /// The asked range a part's header block names (not one already seen).
    fn part_of(&self, headers: &[u8]) -> Result<usize, MultipartError> {
        let text = std::str::from_utf8(headers).map_err(|_| MultipartError::BadHeaders)?;
        let (a, b) = text
            .split("\r\n")
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-range")
                    .then(|| content_range(v))
                    .flatten()
            })
            .ok_or(MultipartError::NoContentRange)?;
        self.asked
            .iter()
            .zip(&self.seen)
            .position(|(&r, &seen)| r == (a, b) && !seen)
            .ok_or(MultipartError::Unasked(a, b))
    }
}

/// `bytes a-b/len` (or `/*`) → `(a, b)`, with `a <= b < len`.
fn content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let spec = v
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes "))
        .map(|_| &v[6..])?;
    let (range, len) = spec.trim().split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    if a > b {
        return None;
    }
    match len.trim() {
        "*" => {}
        l => {
            if b >= l.parse::<u64>().ok()? {
                return None;
            }
        }
    }
    Some((a, b))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "testhub-xorb-ranges";

    /// A body as testhub writes it, for `parts` of (range, data).
    fn body(parts: &[((u64, u64), &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for ((a, b), data) in parts {
            v.extend_from_slice(
                format!("\r\n--{B}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {a}-{b}/1000\r\n\r\n")
                    .as_bytes(),
            );
            v.extend_from_slice(data);
        }
        v.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
        v
    }

    /// Parses `body` fed `step` bytes at a time: (range index, data) per part.
    fn parse(
        asked: &[(u64, u64)],
        body: &[u8],
        step: usize,
    ) -> Result<Vec<(usize, Vec<u8>)>, MultipartError> {
        let mut m = Multipart::new(B, asked.to_vec());
        let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
        for piece in body.chunks(step) {
            m.push(piece, |p| {
                match p {
                    Part::Start(n) => out.push((n, Vec::new())),
                    Part::Data(d) => out.last_mut().expect("part").1.extend_from_slice(d),
                    Part::End(n) => assert_eq!(out.last().expect("part").0, n),
                }
                Ok::<(), ()>(())
            })
            .map_err(|e| e.expect_err("no callback error"))?;
        }
        m.finish()?;
        Ok(out)
    }

    #[test]
    fn parts_in_any_order_and_any_piece_size() {
        let asked = [(0, 4), (10, 12)];
        // The data may contain the boundary text itself: lengths come from Content-Range.
        let d0: &[u8] = b"--tes";
        let d1: &[u8] = b"\r\n-";
        for body in [
            body(&[((0, 4), d0), ((10, 12), d1)]),
            body(&[((10, 12), d1), ((0, 4), d0)]),
        ] {
            for step in [1, 2, 3, 7, 1000] {
                let mut got = parse(&asked, &body, step).expect("parse");
                got.sort();
                assert_eq!(got, vec![(0, d0.to_vec()), (1, d1.to_vec())], "step {step}");
            }
        }
    }

    #[test]
    fn preamble_without_crlf_and_quoted_boundary() {
        assert_eq!(
            boundary("multipart/byteranges; boundary=\"testhub-xorb-ranges\"").expect("ok"),
            Some(B.to_string())
        );
        assert_eq!(boundary("application/octet-stream").expect("ok"), None);
        assert!(boundary("multipart/byteranges").is_err());
        let mut b = body(&[((0, 1), b"ab"), ((5, 5), b"c")]);
        b.drain(..2); // starts with "--boundary" directly
        assert_eq!(
            parse(&[(0, 1), (5, 5)], &b, 4).expect("parse"),
            vec![(0, b"ab".to_vec()), (1, b"c".to_vec())]
        );
    }

    #[test]
    fn refuses_what_was_not_asked_or_is_malformed() {
        let asked = [(0, 4), (10, 12)];
        let good = body(&[((0, 4), b"01234"), ((10, 12), b"abc")]);
        // A part for bytes not asked (testhub's bad-multipart fault shifts one by a byte).
        let shifted = body(&[((0, 4), b"01234"), ((11, 13), b"abc")]);
        assert_eq!(
            parse(&asked, &shifted, 5),
            Err(MultipartError::Unasked(11, 13))
        );
        // The same range twice.
        let twice = body(&[((0, 4), b"01234"), ((0, 4), b"01234")]);
        assert_eq!(parse(&asked, &twice, 5), Err(MultipartError::Unasked(0, 4)));
        // Data longer than its Content-Range says.
        let long = body(&[((0, 4), b"012345"), ((10, 12), b"abc")]);
        assert_eq!(parse(&asked, &long, 5), Err(MultipartError::Overlong));
        // Truncated anywhere before the closing delimiter's end: never a success (the CRLF
        // after it is epilogue, optional).
        assert!(parse(&asked, &good, 3).is_ok());
        for cut in 0..good.len() - 2 {
            assert!(parse(&asked, &good[..cut], 3).is_err(), "cut at {cut}");
        }
        // One range missing before the closing delimiter.
        let short = body(&[((0, 4), b"01234")]);
        assert_eq!(
            parse(&asked, &short, 5),
            Err(MultipartError::Truncated(1, 2))
        );
        // No Content-Range; an endless header block; an endless preamble; a long epilogue.
        let mut none = format!("--{B}\r\nContent-Type: x\r\n\r\n").into_bytes();
        none.extend_from_slice(b"01234");
        assert_eq!(parse(&asked, &none, 5), Err(MultipartError::NoContentRange));
        let mut endless = format!("--{B}\r\n").into_bytes();
        endless.extend(std::iter::repeat_n(b'x', 20_000));
        assert_eq!(
            parse(&asked, &endless, 999),
            Err(MultipartError::BadHeaders)
        );
        let preamble = vec![b'p'; 5000];
        assert_eq!(
            parse(&asked, &preamble, 100),
            Err(MultipartError::NoDelimiter)
        );
        let mut epilogue = good.clone();
        epilogue.extend(std::iter::repeat_n(b'e', 2000));
        assert_eq!(parse(&asked, &epilogue, 100), Err(MultipartError::Epilogue));
        // A Content-Range past its own length, or reversed.
        for bad in ["bytes 0-4/4", "bytes 4-0/10", "bytes 0-4", "items 0-4/10"] {
            let mut b = format!("--{B}\r\nContent-Range: {bad}\r\n\r\n").into_bytes();
            b.extend_from_slice(b"01234");
            assert_eq!(
                parse(&asked, &b, 5),
                Err(MultipartError::NoContentRange),
                "{bad}"
            );
        }
    }
}
