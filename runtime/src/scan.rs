//! Reading `commandId` and `command` from a command too large to hold, as it streams past.
//!
//! A command past the device's size limit still deserves an answer naming the limit, and the
//! answer needs the id. [`Scanner`] is fed the payload piece by piece and keeps only the
//! nesting depth, a little lexer state and the two strings it looks for (each at most
//! [`MAX_CAPTURE`] bytes of JSON text), so a 3 MB or 3 GB payload costs the same few hundred
//! bytes. Only the top-level object's keys count: a `commandId` inside `payload` is not the
//! command's. The first occurrence of each key wins. Nothing here allocates beyond those two
//! strings, so the chip's core uses it as the host's transport does.

use alloc::string::String;
use alloc::vec::Vec;

/// Longest JSON text of a captured string value (escapes included); longer ones are not read.
pub const MAX_CAPTURE: usize = 512;

/// What the scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The top-level `commandId`, when it is a readable string.
    pub command_id: Option<String>,
    /// The top-level `command`, when it is a readable string.
    pub command: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Nothing,
    CommandId,
    Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the opening `{` (whitespace allowed).
    Start,
    /// In the top-level object, before a key or `}`.
    Key,
    /// Inside a top-level key's string.
    KeyText { escaped: bool },
    /// After a key, before `:`.
    Colon,
    /// After `:`, before the value.
    Value,
    /// Inside a top-level string value.
    ValueText { escaped: bool },
    /// Inside a number, `true`, `false` or `null` at the top level.
    Scalar,
    /// Inside a nested object or array, `depth` levels below the top-level object.
    Nested {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    /// After a value, before `,` or `}`.
    Next,
    /// The top-level object closed, or the text is not an object: nothing more to learn.
    Done,
}

/// A streaming reader of a top-level JSON object's `commandId` and `command` strings.
#[derive(Clone, Debug)]
pub struct Scanner {
    state: State,
    key: Vec<u8>,
    key_too_long: bool,
    want: Want,
    text: Vec<u8>,
    text_too_long: bool,
    found: Found,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    /// A scanner at the start of a payload.
    pub fn new() -> Self {
        Self {
            state: State::Start,
            key: Vec::new(),
            key_too_long: false,
            want: Want::Nothing,
            text: Vec::new(),
            text_too_long: false,
            found: Found::default(),
        }
    }

    /// Read the next piece of the payload.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.state == State::Done {
                return;
            }
            self.step(b);
        }
    }

    /// Whether both strings were found, so the rest need not be read.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
            || (self.found.command_id.is_some() && self.found.command.is_some())
    }

    /// What was found (the payload may have ended anywhere).
    pub fn finish(self) -> Found {
        self.found
    }

    fn step(&mut self, b: u8) {
        let ws = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        self.state = match self.state {
            State::Start if ws => State::Start,
            State::Start if b == b'{' => State::Key,
            State::Start => State::Done,
            State::Key if ws || b == b',' => State::Key,
            State::Key if b == b'"' => {
                self.key.clear();
                self.key_too_long = false;
                State::KeyText { escaped: false }
            }
            State::Key => State::Done,
            State::KeyText { escaped: true } => {
                self.push_key(b);
                State::KeyText { escaped: false }
            }
            State::KeyText { escaped: false } if b == b'"' => State::Colon,
            State::KeyText { escaped: false } => {
                self.push_key(b);
                State::KeyText {
                    escaped: b == b'\\',
                }
            }
            State::Colon if ws => State::Colon,
            State::Colon if b == b':' => {
                self.want = match (&self.key[..], self.key_too_long) {
                    (b"commandId", false) => Want::CommandId,
                    (b"command", false) => Want::Command,
                    _ => Want::Nothing,
                };
                State::Value
            }
            State::Colon => State::Done,
            State::Value if ws => State::Value,
            State::Value if b == b'"' => {
                self.text.clear();
                self.text_too_long = false;
                State::ValueText { escaped: false }
            }
            State::Value if b == b'{' || b == b'[' => State::Nested {
                depth: 1,
                in_string: false,
                escaped: false,
            },
            State::Value => State::Scalar,
            State::ValueText { escaped: true } => {
                self.push_text(b);
                State::ValueText { escaped: false }
            }
            State::ValueText { escaped: false } if b == b'"' => {
                self.take_value();
                State::Next
            }
            State::ValueText { escaped: false } => {
                self.push_text(b);
                State::ValueText {
                    escaped: b == b'\\',
                }
            }
            State::Scalar if b == b',' => State::Key,
            State::Scalar if b == b'}' => State::Done,
            State::Scalar => State::Scalar,
            State::Nested {
                depth,
                in_string: true,
                escaped,
            } => State::Nested {
                depth,
                in_string: escaped || b != b'"',
                escaped: !escaped && b == b'\\',
            },
            State::Nested { depth, .. } => {
                let depth = match b {
                    b'{' | b'[' => depth.saturating_add(1),
                    b'}' | b']' => depth - 1,
                    _ => depth,
                };
                if depth == 0 {
                    State::Next
                } else {
                    State::Nested {
                        depth,
                        in_string: b == b'"',
                        escaped: false,
                    }
                }
            }
            State::Next if ws => State::Next,
            State::Next if b == b',' => State::Key,
            State::Next => State::Done,
            State::Done => State::Done,
        };
    }

    fn push_key(&mut self, b: u8) {
        // Only two short keys matter: a longer one is just "not those".
        if self.key.len() < 16 {
            self.key.push(b);
        } else {
            self.key_too_long = true;
        }
    }

    fn push_text(&mut self, b: u8) {
        if self.want == Want::Nothing {
            return;
        }
        if self.text.len() < MAX_CAPTURE {
            self.text.push(b);
        } else {
            self.text_too_long = true;
        }
    }

    fn take_value(&mut self) {
        let slot = match self.want {
            Want::Nothing => return,
            Want::CommandId => &mut self.found.command_id,
            Want::Command => &mut self.found.command,
        };
        if slot.is_none() && !self.text_too_long {
            *slot = unescape(&self.text);
        }
        self.text.clear();
    }
}

/// The text of a JSON string's body (between the quotes); `None` when it is not valid JSON
/// or not valid Unicode (a lone surrogate).
fn unescape(body: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        i += 1;
        if b < 0x20 {
            return None;
        }
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let escape = *body.get(i)?;
        i += 1;
        let c = match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = hex4(body.get(i..i + 4)?)?;
                i += 4;
                if (0xD800..0xDC00).contains(&high) {
                    if body.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(body.get(i + 2..i + 6)?)?;
                    i += 6;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(high)?
                }
            }
            _ => return None,
        };
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).ok()
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n * 16 + v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    fn scan_in_pieces(text: &[u8], piece: usize) -> Found {
        let mut s = Scanner::new();
        for chunk in text.chunks(piece.max(1)) {
            s.feed(chunk);
        }
        s.finish()
    }

    fn found(id: Option<&str>, command: Option<&str>) -> Found {
        Found {
            command_id: id.map(ToString::to_string),
            command: command.map(ToString::to_string),
        }
    }

    #[test]
    fn reads_the_top_level_strings_in_any_order_and_any_pieces() {
        let text = br#" { "payload": {"commandId": "inner", "list": [1, "]}", {"a": "\""}]},
            "n": -1.5e3, "t": true, "command" : "print_label", "commandId":"c-\u00e9\ud83d\ude00\n" } "#;
        for piece in [1, 2, 3, 7, 64, text.len()] {
            assert_eq!(
                scan_in_pieces(text, piece),
                found(Some("c-\u{e9}\u{1f600}\n"), Some("print_label")),
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn the_first_occurrence_wins_and_unreadable_values_stay_unknown() {
        let f = scan_in_pieces(
            br#"{"commandId":"a","commandId":"b","command":42,"command":"c"}"#,
            5,
        );
        assert_eq!(f, found(Some("a"), Some("c")));
        let f = scan_in_pieces(br#"{"commandId":"\ud800","command":"\q"}"#, 3);
        assert_eq!(f, found(None, None), "lone surrogate, bad escape");
        let long = format!(
            r#"{{"commandId":"{}","command":"x"}}"#,
            "i".repeat(MAX_CAPTURE + 1)
        );
        assert_eq!(scan_in_pieces(long.as_bytes(), 100), found(None, Some("x")));
    }

    #[test]
    fn anything_but_an_object_yields_nothing_and_a_cut_off_text_what_came_before() {
        for text in [&b"[1,2]"[..], b"\"commandId\"", b"", b"nul", b"\xff{"] {
            assert_eq!(scan_in_pieces(text, 1), Found::default());
        }
        let f = scan_in_pieces(br#"{"commandId":"early","payload":"xxxxxxxx"#, 4);
        assert_eq!(f, found(Some("early"), None));
    }

    #[test]
    fn a_long_payload_is_skipped_at_constant_memory() {
        let mut s = Scanner::new();
        s.feed(br#"{"commandId":"big","payload":{"blob":""#);
        for _ in 0..1000 {
            s.feed(&[b'x'; 1000]);
        }
        s.feed(br#""},"command":"after"}"#);
        assert!(s.is_complete());
        assert!(s.text.capacity() <= MAX_CAPTURE && s.key.capacity() <= 64);
        assert_eq!(s.finish(), found(Some("big"), Some("after")));
    }

    // A home-made property test (the crate has no proptest): random objects in random
    // pieces read as serde_json reads them.
    #[cfg(feature = "serde")]
    #[test]
    fn agrees_with_serde_json_on_random_objects() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let strings = ["", "id-1", "é\"\\/\n", "\u{1f600}", "}]{[,:", "commandId"];
        for _ in 0..500 {
            let mut object = serde_json::Map::new();
            for _ in 0..next(6) {
                let key = ["commandId", "command", "payload", "x", "commandIdx"][next(5) as usize];
                let s = strings[next(strings.len() as u64) as usize];
                let value = match next(5) {
                    0 => serde_json::json!(s),
                    1 => serde_json::json!(next(1000) as f64 / 7.0),
                    2 => serde_json::json!({"commandId": s, "a": [s, {"command": s}]}),
                    3 => serde_json::json!([null, true, s]),
                    _ => serde_json::json!(null),
                };
                object.insert(key.to_string(), value);
            }
            let text = if next(2) == 0 {
                serde_json::to_string(&object).unwrap()
            } else {
                serde_json::to_string_pretty(&object).unwrap()
            };
            let want = found(
                object.get("commandId").and_then(|v| v.as_str()),
                object.get("command").and_then(|v| v.as_str()),
            );
            let piece = 1 + next(16) as usize;
            assert_eq!(scan_in_pieces(text.as_bytes(), piece), want, "{text}");
        }
    }
}
